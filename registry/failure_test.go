package registry_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/hoist-dev/hoist/registry"
)

func TestClassifyError(t *testing.T) {
	httpErr := func(status int, code string) error {
		return &registry.HTTPError{Method: "GET", URL: "https://r.example/v2/app/tags/list", StatusCode: status, Code: code}
	}
	transportErr := func(status int, codes ...transport.ErrorCode) error {
		te := &transport.Error{StatusCode: status}
		for _, c := range codes {
			te.Errors = append(te.Errors, transport.Diagnostic{Code: c})
		}
		return te
	}
	dial := func(err error) error {
		return &url.Error{Op: "Get", URL: "https://r.example/v2/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}}
	}
	wrap := func(err error) error { return fmt.Errorf("listing tags of r.example/app: page 1: %w", err) }
	tests := map[string]struct {
		err  error
		want registry.Failure
	}{
		"nil":                          {nil, registry.FailureOther},
		"401":                          {wrap(httpErr(401, "")), registry.FailureCredentials},
		"401 UNAUTHORIZED":             {wrap(httpErr(401, "UNAUTHORIZED")), registry.FailureCredentials},
		"403 DENIED":                   {wrap(httpErr(403, "DENIED")), registry.FailureCredentials},
		"403":                          {httpErr(403, ""), registry.FailureCredentials},
		"404":                          {httpErr(404, ""), registry.FailureNotFound},
		"404 NAME_UNKNOWN":             {wrap(httpErr(404, "NAME_UNKNOWN")), registry.FailureNotFound},
		"401 NAME_UNKNOWN":             {httpErr(401, "NAME_UNKNOWN"), registry.FailureNotFound},
		"403 TOOMANYREQUESTS":          {httpErr(403, "TOOMANYREQUESTS"), registry.FailureTransient},
		"408":                          {httpErr(408, ""), registry.FailureTransient},
		"429":                          {wrap(httpErr(429, "TOOMANYREQUESTS")), registry.FailureTransient},
		"500":                          {httpErr(500, ""), registry.FailureTransient},
		"502":                          {httpErr(502, ""), registry.FailureTransient},
		"503 UNAVAILABLE":              {httpErr(503, "UNAVAILABLE"), registry.FailureTransient},
		"504":                          {httpErr(504, ""), registry.FailureTransient},
		"400":                          {httpErr(400, ""), registry.FailureOther},
		"405 UNSUPPORTED":              {httpErr(405, "UNSUPPORTED"), registry.FailureOther},
		"token 401":                    {wrap(transportErr(401, transport.UnauthorizedErrorCode)), registry.FailureCredentials},
		"token 401 without body":       {transportErr(401), registry.FailureCredentials},
		"token 403 DENIED":             {transportErr(403, transport.DeniedErrorCode), registry.FailureCredentials},
		"token 404 NAME_UNKNOWN":       {transportErr(404, transport.NameUnknownErrorCode), registry.FailureNotFound},
		"token 429":                    {transportErr(429), registry.FailureTransient},
		"token 503":                    {transportErr(503), registry.FailureTransient},
		"sentinel unauthorized":        {fmt.Errorf("connecting: %w", registry.ErrUnauthorized), registry.FailureCredentials},
		"sentinel not found":           {fmt.Errorf("x: %w", registry.ErrNotFound), registry.FailureNotFound},
		"sentinel rate limited":        {fmt.Errorf("waiting: %w", registry.ErrRateLimited), registry.FailureTransient},
		"connection refused":           {wrap(dial(syscall.ECONNREFUSED)), registry.FailureTransient},
		"connection reset":             {wrap(dial(syscall.ECONNRESET)), registry.FailureTransient},
		"host unreachable":             {dial(syscall.EHOSTUNREACH), registry.FailureTransient},
		"DNS":                          {&url.Error{Op: "Get", URL: "https://r.example/v2/", Err: &net.DNSError{Err: "no such host", Name: "r.example"}}, registry.FailureTransient},
		"cut body":                     {wrap(io.ErrUnexpectedEOF), registry.FailureTransient},
		"deadline":                     {wrap(context.DeadlineExceeded), registry.FailureTransient},
		"canceled":                     {wrap(context.Canceled), registry.FailureOther},
		"unknown certificate":          {&url.Error{Op: "Get", URL: "https://r.example/v2/", Err: x509.UnknownAuthorityError{}}, registry.FailureOther},
		"pagination":                   {wrap(fmt.Errorf("%w: page 3 repeats page 1", registry.ErrPagination)), registry.FailureOther},
		"invalid repository":           {fmt.Errorf("%w %q", registry.ErrInvalidRepository, "app:v1"), registry.FailureOther},
		"plain error":                  {errors.New("decoding tag list: unexpected end of JSON input"), registry.FailureOther},
		"retried 503 after 3 attempts": {fmt.Errorf("after 3 attempts: %w", httpErr(503, "")), registry.FailureTransient},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := registry.ClassifyError(tc.err); got != tc.want {
				t.Errorf("ClassifyError(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
