package registry

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// pingTTL is how long a registry's answer to a ping is reused. Connections
// are made once per repository and credentials, so past the start-up a
// ping is rare; the limit only bounds how long a registry that changed its
// authentication (another token realm) is answered from memory.
const pingTTL = time.Hour

// pingTransport answers the pings of go-containerregistry's handshake
// (GET /v2/ without credentials, which only asks how to authenticate) from
// the registry's first answer, per scheme and host: connecting to a second
// repository of a registry then costs its token alone, not a ping and a
// token. Concurrent first pings of a host wait for one answer. Only the
// answers that name a way to authenticate (200, 401) are kept; once a
// scheme answered for a host, a ping over the other scheme fails at once,
// so that go-containerregistry's race of https and http for a local
// registry does not reach the network either.
type pingTransport struct {
	inner http.RoundTripper
	clock Clock

	mu    sync.Mutex
	pings map[string]*pingAnswer // by scheme://host
}

type pingAnswer struct {
	done   chan struct{} // closed when ok and the answer are set
	ok     bool
	status int
	auth   []string // WWW-Authenticate
	at     time.Time
}

func newPingTransport(inner http.RoundTripper, clock Clock) *pingTransport {
	return &pingTransport{inner: inner, clock: clock, pings: make(map[string]*pingAnswer)}
}

func isPing(req *http.Request) bool {
	return req.Method == http.MethodGet && req.URL.Path == "/v2/" && req.URL.RawQuery == "" && req.Header.Get("Authorization") == ""
}

func (t *pingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !isPing(req) {
		return t.inner.RoundTrip(req)
	}
	key := req.URL.Scheme + "://" + req.URL.Host
	other := "http://" + req.URL.Host
	if req.URL.Scheme == "http" {
		other = "https://" + req.URL.Host
	}
	for {
		t.mu.Lock()
		if o := t.pings[other]; o != nil && t.fresh(o) {
			t.mu.Unlock()
			return nil, fmt.Errorf("%s answers over %s, not %s", req.URL.Host, other[:len(other)-len(req.URL.Host)-3], req.URL.Scheme)
		}
		a := t.pings[key]
		if a != nil && isDone(a) && !t.fresh(a) {
			delete(t.pings, key)
			a = nil
		}
		if a == nil {
			a = &pingAnswer{done: make(chan struct{})}
			t.pings[key] = a
			t.mu.Unlock()
			return t.ping(req, key, a)
		}
		t.mu.Unlock()
		select {
		case <-a.done:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
		if a.ok {
			return a.response(req), nil
		}
		// The first ping failed: try again, this one leading.
	}
}

// ping sends the ping that answers key and keeps its answer.
func (t *pingTransport) ping(req *http.Request, key string, a *pingAnswer) (*http.Response, error) {
	resp, err := t.inner.RoundTrip(req)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized) {
		a.ok, a.status, a.at = true, resp.StatusCode, t.clock.Now()
		a.auth = append([]string(nil), resp.Header.Values("WWW-Authenticate")...)
	} else {
		delete(t.pings, key)
	}
	close(a.done)
	return resp, err
}

// fresh reports whether a kept answer may still be used; t.mu is held.
func (t *pingTransport) fresh(a *pingAnswer) bool {
	return isDone(a) && a.ok && t.clock.Now().Sub(a.at) < pingTTL
}

func isDone(a *pingAnswer) bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// response rebuilds the kept answer for req.
func (a *pingAnswer) response(req *http.Request) *http.Response {
	h := http.Header{}
	for _, v := range a.auth {
		h.Add("WWW-Authenticate", v)
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", a.status, http.StatusText(a.status)), StatusCode: a.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: io.NopCloser(bytes.NewReader(nil)), ContentLength: 0, Request: req,
	}
}
