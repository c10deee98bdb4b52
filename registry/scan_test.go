package registry_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// requestCounter counts the requests a Client sends, by kind.
type requestCounter struct{ all atomic.Int64 }

func (c *requestCounter) observe(registry.RequestInfo) { c.all.Add(1) }

// scanNewestBuild does what a newestBuild policy asks of a registry: every
// tag, and the build time of each (policy.Select asks for the facts of every
// candidate under this rule). It returns the newest tag.
func scanNewestBuild(ctx context.Context, c *registry.Client, repo registry.Repo) (string, error) {
	tl, err := c.ListTags(ctx, repo)
	if err != nil {
		return "", err
	}
	var best string
	var bestAt time.Time
	for _, tag := range tl.Tags {
		f, err := c.Facts(ctx, repo, tag, registry.Need{Created: true})
		if err != nil {
			return "", err
		}
		if best == "" || f.Created.After(bestAt) || (f.Created.Equal(bestAt) && tag > best) {
			best, bestAt = tag, f.Created
		}
	}
	return best, nil
}

// pushBuilds pushes n images built an hour apart as tags b000, b001, ...
func pushBuilds(t testing.TB, reg *testenv.Registry, repo string, from, n int) {
	t.Helper()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := from; i < from+n; i++ {
		reg.PushImage(t, repo, fmt.Sprintf("b%03d", i), testenv.ImageOptions{Created: base.Add(time.Duration(i) * time.Hour)})
	}
}

// TestRescanCost checks the target: after one new tag, a rescan
// under newestBuild costs the tag list pages plus at most 3 requests.
func TestRescanCost(t *testing.T) {
	const n = 30
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{Auth: testenv.AuthToken})
	pushBuilds(t, reg, "app", 0, n)
	repo := registry.Repo{Image: reg.Ref("app", ""), Keychain: secretFor(t, reg.Host, reg.Username, reg.Password)}
	path := filepath.Join(t.TempDir(), "registry.db")
	var count requestCounter
	cache := openCacheNoCleanup(t, path)
	c := newClient(t, newFakeClock(), registry.WithCache(cache), registry.WithRequestObserver(count.observe))

	got, err := scanNewestBuild(t.Context(), c, repo)
	if err != nil || got != fmt.Sprintf("b%03d", n-1) {
		t.Fatalf("first scan = %q, %v", got, err)
	}
	first := count.all.Load()

	pushBuilds(t, reg, "app", n, 1)
	count.all.Store(0)
	reg.Faults.ResetLog()
	got, err = scanNewestBuild(t.Context(), c, repo)
	if err != nil || got != fmt.Sprintf("b%03d", n) {
		t.Fatalf("rescan = %q, %v", got, err)
	}
	pages := reg.Faults.Reached("GET", testenv.TagsPath)
	rescan := count.all.Load()
	t.Logf("first scan: %d requests; rescan: %d requests (%d tag list pages)", first, rescan, pages)
	if rescan > int64(pages)+3 {
		t.Errorf("rescan made %d requests, want at most %d pages + 3: %+v", rescan, pages, reg.Faults.Log())
	}

	// A new process (new client, same cache file) adds only its handshake:
	// a ping (HTTPS tried first on 127.0.0.1, then HTTP) and a token.
	if err := cache.Close(); err != nil {
		t.Fatal(err)
	}
	pushBuilds(t, reg, "app", n+1, 1)
	count.all.Store(0)
	reg.Faults.ResetLog()
	c = newClient(t, newFakeClock(), registry.WithCache(openCache(t, path)), registry.WithRequestObserver(count.observe))
	if got, err := scanNewestBuild(t.Context(), c, repo); err != nil || got != fmt.Sprintf("b%03d", n+1) {
		t.Fatalf("rescan by a new process = %q, %v", got, err)
	}
	const handshake = 3
	if got := count.all.Load(); got > int64(pages)+3+handshake {
		t.Errorf("rescan by a new process made %d requests, want at most %d pages + 3 + handshake (%d)", got, pages, handshake)
	}
	t.Logf("rescan by a new process after one new tag: %d requests", count.all.Load())
}
