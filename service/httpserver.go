package service

import (
	"net/http"
	"time"
)

// serverLimits bound what one client can hold of the service's listeners:
// the webhook listener faces registries on the internet, so a client that
// sends its request slowly, or keeps an idle connection open, is cut off.
type serverLimits struct {
	// ReadHeader bounds reading the request's header; Read the whole
	// request, body included; Write the response, counted from the end
	// of the header; Idle a kept-alive connection between requests.
	ReadHeader, Read, Write, Idle time.Duration
	// MaxHeaderBytes bounds the request's header; a larger one gets 431
	// Request Header Fields Too Large.
	MaxHeaderBytes int
}

// defaultServerLimits are the limits of hoist run's listeners, as
// documented in docs/service.md.
func defaultServerLimits() serverLimits {
	return serverLimits{
		ReadHeader:     10 * time.Second,
		Read:           30 * time.Second,
		Write:          30 * time.Second,
		Idle:           2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
	}
}

// newHTTPServer returns a server of h with the limits l.
func newHTTPServer(h http.Handler, l serverLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeader,
		ReadTimeout:       l.Read,
		WriteTimeout:      l.Write,
		IdleTimeout:       l.Idle,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}

// NewHTTPServer returns a server of h with the limits of hoist run's
// listeners: for another driver's listeners, such as hoist controller's.
func NewHTTPServer(h http.Handler) *http.Server {
	return newHTTPServer(h, defaultServerLimits())
}
