package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Failure is the kind of a registry error, as far as deciding what to do
// about it goes: whether a cached answer may stand in for a fresh one.
type Failure int

// The kinds of failure ClassifyError tells apart.
const (
	// FailureOther is any failure that is neither transient nor about
	// credentials or a missing repository: a malformed answer, unsafe
	// pagination, a TLS certificate that does not verify, a bad name.
	// It is not served from the cache.
	FailureOther Failure = iota
	// FailureTransient may heal by itself: no connection, a timeout, a
	// reset, HTTP 408, 429 or 5xx. A cached answer may stand in for it.
	FailureTransient
	// FailureCredentials is a refusal of the credentials used, or of
	// anonymous access: HTTP 401 or 403, DENIED, UNAUTHORIZED.
	FailureCredentials
	// FailureNotFound says the registry has no such repository (or tag):
	// HTTP 404, NAME_UNKNOWN.
	FailureNotFound
)

// String names the failure in messages: "other", "transient",
// "credentials", "not found".
func (f Failure) String() string {
	switch f {
	case FailureTransient:
		return "transient"
	case FailureCredentials:
		return "credentials"
	case FailureNotFound:
		return "not found"
	}
	return "other"
}

// ClassifyError says what kind of failure err is. It reads this package's
// HTTPError and sentinels, go-containerregistry's transport.Error (status
// code and diagnostic codes), net errors and context deadlines. A nil err
// and anything it does not recognise are FailureOther: only what is known to
// be transient is.
func ClassifyError(err error) Failure {
	if err == nil {
		return FailureOther
	}
	// A registry's error code says more than its status: some registries
	// answer a missing repository with 401, or a rate limit with 403.
	for _, code := range errorCodes(err) {
		switch code {
		case string(transport.NameUnknownErrorCode), string(transport.ManifestUnknownErrorCode):
			return FailureNotFound
		case string(transport.UnauthorizedErrorCode), string(transport.DeniedErrorCode):
			return FailureCredentials
		case string(transport.TooManyRequestsErrorCode), string(transport.UnavailableErrorCode):
			return FailureTransient
		}
	}
	if code, ok := statusCode(err); ok {
		return classifyStatus(code)
	}
	switch {
	case errors.Is(err, ErrUnauthorized):
		return FailureCredentials
	case errors.Is(err, ErrNotFound):
		return FailureNotFound
	case errors.Is(err, ErrRateLimited):
		return FailureTransient
	}
	if isCertificateError(err) {
		return FailureOther
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, errAttemptTimeout),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return FailureTransient
	}
	var opErr *net.OpError
	var dnsErr *net.DNSError
	if errors.As(err, &opErr) || errors.As(err, &dnsErr) {
		return FailureTransient
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return FailureTransient
	}
	return FailureOther
}

// classifyStatus classifies an HTTP status of a registry's answer.
func classifyStatus(code int) Failure {
	switch {
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return FailureCredentials
	case code == http.StatusNotFound:
		return FailureNotFound
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500 && code <= 599:
		return FailureTransient
	}
	return FailureOther
}

// statusCode finds the HTTP status of a registry's answer in err's chain.
func statusCode(err error) (int, bool) {
	var he *HTTPError
	if errors.As(err, &he) {
		return he.StatusCode, true
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode, true
	}
	return 0, false
}

// errorCodes lists the registry's error codes (distribution's error body)
// found in err's chain.
func errorCodes(err error) []string {
	var codes []string
	var he *HTTPError
	if errors.As(err, &he) && he.Code != "" {
		codes = append(codes, he.Code)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		for _, d := range te.Errors {
			codes = append(codes, string(d.Code))
		}
	}
	return codes
}

// isCertificateError reports a TLS failure that retrying will not heal.
func isCertificateError(err error) bool {
	var (
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		record  tls.RecordHeaderError
	)
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &host) ||
		errors.As(err, &invalid) || errors.As(err, &record)
}
