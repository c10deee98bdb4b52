package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/registry/webhook"
)

// testLimits are short limits, so that the tests of slow clients are fast.
var testLimits = serverLimits{
	ReadHeader:     300 * time.Millisecond,
	Read:           1500 * time.Millisecond,
	Write:          2 * time.Second,
	Idle:           300 * time.Millisecond,
	MaxHeaderBytes: 4 << 10,
}

// hookServer serves a Distribution receiver with newHTTPServer and limits
// l on 127.0.0.1, and returns its address and the receiver's path.
func hookServer(t *testing.T, l serverLimits) (addr, path string) {
	t.Helper()
	r := webhook.Receiver{Name: "registry", Namespace: "apps", Type: webhook.TypeDistribution, Token: "hook-token-123"}
	h, err := webhook.NewHandler([]webhook.Receiver{r}, func(context.Context, webhook.Receiver, webhook.Request) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(h, l)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), r.Path()
}

// TestServerCutsSlowClients has a real client hold a connection to the
// webhook listener: sending its body or its header one byte a second, or
// keeping the connection idle. The server closes it after the limit; the
// test waits for that close (the client's read returns), with a deadline
// far above the limits only to fail instead of hanging.
func TestServerCutsSlowClients(t *testing.T) {
	addr, path := hookServer(t, testLimits)
	header := "POST " + path + " HTTP/1.1\r\nHost: hoist\r\nAuthorization: Bearer hook-token-123\r\nContent-Type: application/json\r\n"
	body := `{"events":[]}`
	tests := map[string]struct {
		start string // sent at once
		drip  string // then one byte a second
	}{
		"body one byte a second":   {start: header + "Content-Length: 64\r\n\r\n", drip: strings.Repeat("x", 64)},
		"header one byte a second": {start: "POST " + path + " HTTP/1.1\r\n", drip: "X-Slow: " + strings.Repeat("x", 64) + "\r\n\r\n"},
		"idle after a request":     {start: header + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = conn.Close() }()
			start := time.Now()
			if _, err := io.WriteString(conn, tc.start); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			sent := make(chan int, 1)
			go func() {
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				n := 0
				for n < len(tc.drip) {
					if _, err := conn.Write([]byte{tc.drip[n]}); err != nil {
						break
					}
					n++
					select {
					case <-stop:
						sent <- n
						return
					case <-tick.C:
					}
				}
				sent <- n
			}()
			// Only a guard against hanging: the server closes long before.
			_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
			got, err := io.ReadAll(conn)
			held := time.Since(start)
			close(stop)
			n := <-sent
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server still held the connection after %s (%d of %d bytes sent)", held, n, len(tc.drip))
			}
			if tc.drip != "" && n >= len(tc.drip) {
				t.Errorf("the client sent all %d bytes before the server closed the connection", n)
			}
			if held > 5*time.Second { // the longest limit is 1.5s
				t.Errorf("the server held the connection for %s, want about %s", held, testLimits.Read)
			}
			t.Logf("closed after %s, %d bytes dripped; the server answered %q", held.Round(time.Millisecond), n, firstLine(got))
		})
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\r\n")
	return s
}

// TestServerRefusesLargeHeader answers a header over MaxHeaderBytes with
// 431 Request Header Fields Too Large.
func TestServerRefusesLargeHeader(t *testing.T) {
	addr, path := hookServer(t, testLimits)
	for name, tc := range map[string]struct {
		size int
		want int
	}{
		"within the limit":   {size: 1 << 10, want: http.StatusUnauthorized},
		"over the limit":     {size: 16 << 10, want: http.StatusRequestHeaderFieldsTooLarge},
		"far over the limit": {size: 1 << 20, want: http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, "http://"+addr+path, strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Big", strings.Repeat("x", tc.size))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

// TestDefaultServerLimits pins the documented limits of hoist run's
// listeners (docs/service.md).
func TestDefaultServerLimits(t *testing.T) {
	want := serverLimits{ReadHeader: 10 * time.Second, Read: 30 * time.Second, Write: 30 * time.Second, Idle: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	if diff := cmp.Diff(want, defaultServerLimits()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	srv := newHTTPServer(http.NotFoundHandler(), want)
	got := serverLimits{ReadHeader: srv.ReadHeaderTimeout, Read: srv.ReadTimeout, Write: srv.WriteTimeout, Idle: srv.IdleTimeout, MaxHeaderBytes: srv.MaxHeaderBytes}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("newHTTPServer (-want +got):\n%s", diff)
	}
}
