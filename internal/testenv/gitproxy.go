package testenv

import (
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// GitProxy is a TCP proxy on 127.0.0.1 in front of a Git server, used to cut
// the network in the middle of a transfer.
type GitProxy struct {
	// Addr is the host:port the proxy listens on.
	Addr string

	target   string
	cutAfter atomic.Int64 // 0: never cut
	cuts     atomic.Int64

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// NewGitProxy starts a proxy that forwards to target (host:port) and stops
// it when the test ends.
func NewGitProxy(t testing.TB, target string) *GitProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &GitProxy{Addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		p.mu.Lock()
		for c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

// ProxyURL rewrites rawURL (an http:// URL of the proxied server) to go
// through the proxy.
func (p *GitProxy) ProxyURL(t testing.TB, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.Addr
	return u.String()
}

// CutAfter makes the proxy close every connection, from now on, once the
// client has sent n bytes on it; n <= 0 stops cutting.
func (p *GitProxy) CutAfter(n int64) { p.cutAfter.Store(n) }

// Cuts is how many connections the proxy has cut.
func (p *GitProxy) Cuts() int64 { return p.cuts.Load() }

func (p *GitProxy) track(c net.Conn, add bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
}

func (p *GitProxy) serve(client net.Conn) {
	upstream, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	p.track(client, true)
	p.track(upstream, true)
	closeBoth := sync.OnceFunc(func() {
		_ = client.Close()
		_ = upstream.Close()
		p.track(client, false)
		p.track(upstream, false)
	})
	defer closeBoth()

	go func() {
		defer closeBoth()
		_, _ = io.Copy(client, upstream)
	}()
	var sent int64
	buf := make([]byte, 16<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			limit := p.cutAfter.Load()
			if limit > 0 && sent+int64(n) >= limit {
				// Forward up to the limit, then drop the connection.
				if keep := limit - sent; keep > 0 {
					_, _ = upstream.Write(chunk[:keep])
				}
				p.cuts.Add(1)
				return
			}
			if _, werr := upstream.Write(chunk); werr != nil {
				return
			}
			sent += int64(n)
		}
		if err != nil {
			return
		}
	}
}
