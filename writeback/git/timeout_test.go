package git_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/writeback/git"
)

// TestTimeoutStalledServer bounds each network operation: a Git server that
// stops answering fails the clone, the fetch and the push after the
// timeout instead of holding the run.
func TestTimeoutStalledServer(t *testing.T) {
	const timeout = 300 * time.Millisecond
	// The server holds a stalled request for stallFor: an operation that
	// returns before that gave up on its own timeout.
	const stallFor = 30 * time.Second
	stall := func(when func(r *http.Request) bool) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if when(r) {
					select {
					case <-r.Context().Done():
					case <-time.After(stallFor):
					}
					return
				}
				next.ServeHTTP(w, r)
			})
		}
	}
	everything := func(*http.Request) bool { return true }
	pushes := func(r *http.Request) bool {
		return strings.HasSuffix(r.URL.Path, "/git-receive-pack") || r.URL.Query().Get("service") == "git-receive-pack"
	}
	tests := map[string]struct {
		stall func(*http.Request) bool
		warm  bool // a first Sync before the server stalls
		push  bool
	}{
		"clone": {stall: everything},
		"fetch": {stall: everything, warm: true},
		"push":  {stall: pushes, warm: true, push: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			opts := f.syncOptions(t)
			if tc.warm {
				// Warmed without the short timeout: on a loaded machine a
				// clone may take longer than 300ms, and only the stalled
				// operation is under test.
				mustSync(t, opts).Close()
			}
			opts.Timeout = timeout
			f.srv.SetMiddleware(stall(tc.stall))
			defer f.srv.SetMiddleware(nil)
			start := time.Now()
			co, err := git.Sync(context.Background(), opts)
			if err == nil {
				defer co.Close()
				_, err = co.Update(context.Background(), setImage(newImage), git.UpdateOptions{Commit: commitOptions()})
			}
			took := time.Since(start)
			if err == nil {
				t.Fatal("succeeded against a stalled server")
			}
			if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "deadline") && !strings.Contains(err.Error(), "context") {
				t.Errorf("error %v does not say the time ran out", err)
			}
			if took >= stallFor {
				t.Errorf("gave up after %v with a %v timeout", took, timeout)
			}
			t.Logf("%s: %v after %v", name, err, took.Round(time.Millisecond))
		})
	}
}
