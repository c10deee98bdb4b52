package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ErrNotFound is returned (wrapped) when the registry does not know the
// repository, tag or manifest asked for (HTTP 404).
var ErrNotFound = errors.New("not found")

// ErrUnauthorized is returned (wrapped) when the registry refuses the
// credentials used, or anonymous access (HTTP 401 and 403).
var ErrUnauthorized = errors.New("unauthorized")

// ErrRateLimited is returned (wrapped) when a registry kept answering 429
// after every retry, or when waiting for a host's rate limit (ours or the
// registry's ratelimit headers) would pass the context's deadline.
var ErrRateLimited = errors.New("rate limited")

// ErrPagination is returned (wrapped) when a registry's tag list pages cannot
// be followed safely: a Link to another host, a page that repeats, or more
// pages than any real repository has.
var ErrPagination = errors.New("unsafe tag list pagination")

// ErrInvalidRepository is returned (wrapped) when Repo.Image is not a
// repository name (for example it carries a tag or a digest).
var ErrInvalidRepository = errors.New("invalid repository")

// ErrInvalidTag is returned (wrapped) when a tag does not follow the OCI
// grammar [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
var ErrInvalidTag = errors.New("invalid tag")

// ErrInvalidManifest is returned (wrapped) when a manifest or image config
// cannot be parsed, or does not match its digest.
var ErrInvalidManifest = errors.New("invalid manifest")

// HTTPError is a registry's answer with an unexpected status. It matches
// ErrNotFound, ErrUnauthorized and ErrRateLimited with errors.Is. Its URL is
// redacted: no query values, no user information.
type HTTPError struct {
	Method     string
	URL        string
	StatusCode int
	// Code and Message come from the registry's error body, when it has the
	// distribution format ({"errors":[{"code","message"}]}).
	Code    string
	Message string
}

func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		b.WriteString(": ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is reports whether the status matches one of the package's sentinels.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	}
	return false
}

// Temporary reports whether retrying later may succeed.
func (e *HTTPError) Temporary() bool { return retryableStatus(e.StatusCode) }

// maxErrorMessage bounds the registry-supplied message kept in an HTTPError.
const maxErrorMessage = 200

// newHTTPError builds an HTTPError from a response whose body was read.
func newHTTPError(req *http.Request, status int, body []byte) *HTTPError {
	e := &HTTPError{Method: req.Method, URL: redactURL(req.URL), StatusCode: status}
	var parsed struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &parsed) == nil && len(parsed.Errors) > 0 {
		e.Code = parsed.Errors[0].Code
		e.Message = parsed.Errors[0].Message
		if len(e.Message) > maxErrorMessage {
			e.Message = e.Message[:maxErrorMessage] + "..."
		}
	}
	return e
}

// redactURL renders u without user information and with every query value
// replaced, so that signed URLs (blob redirects) and tokens never reach an
// error or a log line.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	c.Fragment = ""
	c.RawFragment = ""
	if c.RawQuery != "" {
		q := c.Query()
		for k, vs := range q {
			// The tag list's paging parameters are harmless and useful.
			if k == "n" || k == "last" {
				continue
			}
			for i := range vs {
				vs[i] = "REDACTED"
			}
		}
		c.RawQuery = q.Encode()
	}
	return c.String()
}

// cleanError replaces the URL of a *url.Error (as made by http.Client) with
// its redacted form.
func cleanError(err error) error {
	if ue, ok := err.(*url.Error); ok { //nolint:errorlint // http.Client and url.Parse return it unwrapped
		u, perr := url.Parse(ue.URL)
		redacted := "(unparsable URL)"
		if perr == nil {
			redacted = redactURL(u)
		}
		return &url.Error{Op: ue.Op, URL: redacted, Err: ue.Err}
	}
	return err
}
