package registry_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

func TestRateLimitPerHost(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	for _, r := range []string{"a", "b"} {
		reg.PushImage(t, r, "v1", testenv.ImageOptions{})
	}
	clock := newFakeClock()
	var (
		mu       sync.Mutex
		observed time.Duration
	)
	c := newClient(t, clock, registry.WithRateLimit(2, 1), registry.WithWaitObserver(func(host string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if host != reg.Host {
			t.Errorf("wait observed for host %q, want %q", host, reg.Host)
		}
		observed += d
	}))
	// Ten calls on two repositories of one host: one ping for the host
	// (HTTPS tried first, then HTTP, as 127.0.0.1 may be either; the
	// second repository's handshake is answered from the first's), then
	// ten tag lists: twelve requests in all, one token each.
	for i := range 10 {
		repo := registry.Repo{Image: reg.Ref([]string{"a", "b"}[i%2], "")}
		if _, err := c.ListTags(t.Context(), repo); err != nil {
			t.Fatal(err)
		}
	}
	var waited time.Duration
	for _, s := range clock.Sleeps() {
		waited += s
	}
	// The fake clock does not advance between requests, so the bucket's
	// waits add up to (requests - burst) / rps.
	if want := 11 * time.Second / 2; waited != want {
		t.Errorf("waited %v in all, want %v (sleeps %v)", waited, want, clock.Sleeps())
	}
	mu.Lock()
	defer mu.Unlock()
	if observed != waited {
		t.Errorf("the wait observer saw %v, the clock slept %v", observed, waited)
	}
}

func TestConcurrencyCapPerHost(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	repos := []string{"a", "b", "c", "d", "e", "f"}
	for _, r := range repos {
		reg.PushImage(t, r, "v1", testenv.ImageOptions{})
	}
	var inFlight, peak atomic.Int32
	reg.Faults.Add(testenv.Fault{Path: testenv.TagsPath, Do: func(w http.ResponseWriter, r *http.Request, next http.Handler, _ *testenv.Faults) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		next.ServeHTTP(w, r)
		inFlight.Add(-1)
	}})
	c := newClient(t, registry.SystemClock{}, registry.WithMaxConcurrency(2))
	var wg sync.WaitGroup
	for range 3 {
		for _, r := range repos {
			wg.Go(func() {
				if _, err := c.ListTags(t.Context(), registry.Repo{Image: reg.Ref(r, "")}); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	// The cap bounds the peak; how close the requests come to it depends
	// on the scheduler, so only the bound and some progress are asserted.
	if p := peak.Load(); p < 1 || p > 2 {
		t.Errorf("peak of concurrent tag list requests = %d, want 1 or 2 (the cap)", p)
	}
}

func TestRegistryRateLimitHeaders(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "app", "v1", testenv.ImageOptions{})
	reg.PushImage(t, "app", "v2", testenv.ImageOptions{})
	reg.PushImage(t, "app", "v3", testenv.ImageOptions{})
	repo := registry.Repo{Image: reg.Ref("app", "")}

	tests := map[string]struct {
		remaining string
		deadline  time.Duration
		// wantSleep is the pacing wait before the second counted pull.
		wantSleep time.Duration
		wantErr   error
	}{
		"plenty left: no pacing": {remaining: "50;w=21600"},
		"few left: spread over the window": {
			remaining: "5;w=21600", wantSleep: 21600 * time.Second / 6,
		},
		"few left, wait passes the deadline": {
			remaining: "5;w=21600", deadline: time.Minute, wantErr: registry.ErrRateLimited,
		},
		"none left": {remaining: "0;w=21600", deadline: time.Minute, wantErr: registry.ErrRateLimited},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reg.Faults.Clear()
			reg.Faults.Add(testenv.Fault{Method: "GET", Path: testenv.ManifestsPath, Do: testenv.PassWithHeaders(
				"RateLimit-Limit", "100;w=21600", "RateLimit-Remaining", tc.remaining)})
			clock := newFakeClock()
			c := newClient(t, clock)
			ctx := t.Context()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			need := registry.Need{Created: true}
			if _, err := c.Facts(ctx, repo, "v1", need); err != nil {
				t.Fatal(err)
			}
			// HEAD and blob requests are not paced.
			if _, err := c.Digest(ctx, repo, "v2"); err != nil {
				t.Fatal(err)
			}
			if len(clock.Sleeps()) != 0 {
				t.Fatalf("uncounted requests waited: %v", clock.Sleeps())
			}
			_, err := c.Facts(ctx, repo, "v2", need)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("second pull error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if reg.Faults.Seen("GET", testenv.ManifestsPath) != 1 {
					t.Errorf("the refused pull reached the registry: %+v", reg.Faults.Log())
				}
				return
			}
			var slept time.Duration
			for _, s := range clock.Sleeps() {
				slept += s
			}
			if slept != tc.wantSleep {
				t.Errorf("paced %v, want %v", slept, tc.wantSleep)
			}
		})
	}
}

func TestTLS(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{TLS: true})
	reg.PushImage(t, "app", "v1", testenv.ImageOptions{})
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, reg.CACert, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		opts     []registry.Option
		insecure bool
		wantErr  string
	}{
		"CA file":                 {opts: []registry.Option{registry.WithCAFile(caFile)}},
		"unknown CA":              {wantErr: "certificate"},
		"unknown CA, insecure":    {insecure: true},
		"CA file that is missing": {opts: []registry.Option{registry.WithCAFile(caFile + ".missing")}, wantErr: "CA file"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := registry.New(append([]registry.Option{
				registry.WithDockerConfigDir(t.TempDir()), registry.WithClock(newFakeClock()), registry.WithMaxRetries(1),
			}, tc.opts...)...)
			if err == nil {
				_, err = c.ListTags(t.Context(), registry.Repo{Image: reg.Ref("app", ""), Insecure: tc.insecure})
			}
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}
