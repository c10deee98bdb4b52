package registry_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

func TestOpenCacheSetsAsideBadFiles(t *testing.T) {
	tests := map[string]func(t *testing.T, path string){
		"garbage": func(t *testing.T, path string) {
			writeFile(t, path, bytes.Repeat([]byte("not a database "), 1000))
		},
		"truncated": func(t *testing.T, path string) {
			c := openCacheNoCleanup(t, path)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, data[:100])
		},
		"another program's bbolt file": func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("other"))
				if err != nil {
					return err
				}
				return b.Put([]byte("k"), []byte("v"))
			}); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		},
		"zeroed meta pages": func(t *testing.T, path string) {
			c := openCacheNoCleanup(t, path)
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for i := range min(len(data), 8192) {
				data[i] = 0
			}
			writeFile(t, path, data)
		},
	}
	for name, damage := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state", "registry.db")
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			damage(t, path)
			var logs bytes.Buffer
			c, err := registry.OpenCache(path, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatalf("OpenCache: %v", err)
			}
			defer func() {
				if err := c.Close(); err != nil {
					t.Error(err)
				}
			}()
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "set aside") {
				t.Errorf("no warning logged: %q", logs.String())
			}
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Errorf("files set aside: %v, want one", aside)
			}
		})
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func openCacheNoCleanup(t *testing.T, path string) *registry.Cache {
	t.Helper()
	c, err := registry.OpenCache(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOpenCacheLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registry.db")
	c := openCache(t, path)
	_ = c
	start := time.Now()
	_, err := registry.OpenCache(path, nil)
	if !errors.Is(err, registry.ErrCacheLocked) {
		t.Fatalf("second OpenCache error = %v, want ErrCacheLocked", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("OpenCache waited %v for the lock", d)
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 0 {
		t.Errorf("a locked cache was set aside: %v", aside)
	}
}

func TestListTagsServesStaleList(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "app", "v1", testenv.ImageOptions{})
	repo := registry.Repo{Image: reg.Ref("app", "")}
	path := filepath.Join(t.TempDir(), "registry.db")
	clock := newFakeClock()
	fetched := clock.Now()

	cache := openCacheNoCleanup(t, path)
	c := newClient(t, clock, registry.WithCache(cache), registry.WithMaxRetries(1))
	if _, err := c.ListTags(t.Context(), repo); err != nil {
		t.Fatal(err)
	}
	if err := cache.Close(); err != nil {
		t.Fatal(err)
	}

	// A later run: the registry is down; the cache file is reopened.
	clock.Advance(time.Hour)
	reg.Faults.Add(testenv.Fault{Path: testenv.TagsPath, Do: testenv.Status(503)})
	c = newClient(t, clock, registry.WithCache(openCache(t, path)), registry.WithMaxRetries(1))
	got, err := c.ListTags(t.Context(), repo)
	if err != nil {
		t.Fatalf("ListTags with a cached list: %v", err)
	}
	if !got.Stale || got.Err == nil || !strings.Contains(got.Err.Error(), "503") {
		t.Errorf("got Stale=%v Err=%v, want a stale list with the 503", got.Stale, got.Err)
	}
	if diff := cmp.Diff(registry.TagList{Tags: []string{"v1"}, FetchedAt: fetched, Sum: tagSum("v1"), Stale: true}, got,
		cmpIgnoreErr); diff != "" {
		t.Errorf("stale list (-want +got):\n%s", diff)
	}

	// Without a cached list, the error is returned.
	if _, err := c.ListTags(t.Context(), registry.Repo{Image: reg.Ref("other", "")}); err == nil {
		t.Error("ListTags of an uncached repository succeeded while the registry is down")
	}
}

var cmpIgnoreErr = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Err" }, cmp.Ignore())

// TestListTagsCacheFallback scans with a good answer, then breaks the
// registry in one way: only a transient fault gets the cached list; a
// refusal of the credentials or a repository that is gone fails as it would
// without a cache.
func TestListTagsCacheFallback(t *testing.T) {
	tests := map[string]struct {
		auth testenv.RegistryAuth
		// wrongPassword makes the second scan use a rotated-away password.
		wrongPassword bool
		// breakIt breaks the registry after the good scan.
		breakIt     func(t *testing.T, reg *testenv.Registry)
		wantFailure registry.Failure
		wantIn      string // in the error (or the stale list's Err)
	}{
		"401 wrong password, token auth": {
			auth: testenv.AuthToken, wrongPassword: true,
			wantFailure: registry.FailureCredentials, wantIn: "UNAUTHORIZED",
		},
		"401 wrong password, basic auth": {
			auth: testenv.AuthBasic, wrongPassword: true,
			wantFailure: registry.FailureCredentials, wantIn: "401",
		},
		"403 DENIED": {
			breakIt: func(_ *testing.T, reg *testenv.Registry) {
				reg.Faults.Add(testenv.Fault{Path: testenv.TagsPath, Do: testenv.RegistryError(403, "DENIED", "requested access to the resource is denied")})
			},
			wantFailure: registry.FailureCredentials, wantIn: "403 Forbidden: DENIED",
		},
		"404 NAME_UNKNOWN, repository deleted": {
			auth: testenv.AuthToken,
			breakIt: func(t *testing.T, reg *testenv.Registry) {
				reg.DeleteRepository(t, "app")
			},
			wantFailure: registry.FailureNotFound, wantIn: "NAME_UNKNOWN",
		},
		"429": {
			breakIt: func(_ *testing.T, reg *testenv.Registry) {
				reg.Faults.Add(testenv.Fault{Path: testenv.TagsPath, Do: testenv.Status(429)})
			},
			wantFailure: registry.FailureTransient, wantIn: "429",
		},
		"500": {
			breakIt: func(_ *testing.T, reg *testenv.Registry) {
				reg.Faults.Add(testenv.Fault{Path: testenv.TagsPath, Do: testenv.Status(500)})
			},
			wantFailure: registry.FailureTransient, wantIn: "500",
		},
		"connection refused, registry stopped": {
			auth: testenv.AuthToken,
			breakIt: func(_ *testing.T, reg *testenv.Registry) {
				reg.Stop()
			},
			wantFailure: registry.FailureTransient, wantIn: "connection refused",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reg := testenv.NewRegistry(t, testenv.RegistryOptions{Auth: tc.auth})
			reg.PushImage(t, "app", "v1", testenv.ImageOptions{})
			repo := registry.Repo{Image: reg.Ref("app", "")}
			if tc.auth != testenv.AuthNone {
				repo.Keychain = secretFor(t, reg.Host, reg.Username, reg.Password)
			}
			path := filepath.Join(t.TempDir(), "registry.db")
			clock := newFakeClock()
			fetched := clock.Now()
			c := newClient(t, clock, registry.WithCache(openCache(t, path)), registry.WithMaxRetries(1))
			if _, err := c.ListTags(t.Context(), repo); err != nil {
				t.Fatal(err)
			}

			clock.Advance(time.Hour)
			if tc.breakIt != nil {
				tc.breakIt(t, reg)
			}
			if tc.wrongPassword {
				repo.Keychain = secretFor(t, reg.Host, reg.Username, reg.Password+"-rotated")
			}
			got, err := c.ListTags(t.Context(), repo)

			if tc.wantFailure == registry.FailureTransient {
				if err != nil {
					t.Fatalf("ListTags with a cached list and a transient fault: %v", err)
				}
				if diff := cmp.Diff(registry.TagList{Tags: []string{"v1"}, FetchedAt: fetched, Sum: tagSum("v1"), Stale: true}, got, cmpIgnoreErr); diff != "" {
					t.Errorf("stale list (-want +got):\n%s", diff)
				}
				if got.Err == nil || !strings.Contains(got.Err.Error(), tc.wantIn) {
					t.Errorf("stale list's Err = %v, want one with %q", got.Err, tc.wantIn)
				}
				if f := registry.ClassifyError(got.Err); f != tc.wantFailure {
					t.Errorf("ClassifyError(stale Err) = %v, want %v", f, tc.wantFailure)
				}
				return
			}
			if err == nil {
				t.Fatalf("ListTags = %+v, nil error; want the %v failure, not the cached list", got, tc.wantFailure)
			}
			if diff := cmp.Diff(registry.TagList{}, got, cmpIgnoreErr); diff != "" {
				t.Errorf("list returned with the error (-want +got):\n%s", diff)
			}
			if f := registry.ClassifyError(err); f != tc.wantFailure {
				t.Errorf("ClassifyError(%v) = %v, want %v", err, f, tc.wantFailure)
			}
			if !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("error %q does not say %q", err, tc.wantIn)
			}
			if reg.Password != "" && strings.Contains(err.Error(), reg.Password) {
				t.Errorf("error %q carries the password", err)
			}
		})
	}
}

// TestListTagsConfirmsUnchangedList rescans a repository whose tag list
// has not changed: the cache writes nothing (the list is only confirmed in
// memory) until an hour has passed, then 40 bytes; a stale answer still
// says when the registry last answered, in this process and after a
// restart (to the hour).
func TestListTagsConfirmsUnchangedList(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "app", "v1", testenv.ImageOptions{})
	repo := registry.Repo{Image: reg.Ref("app", "")}
	path := filepath.Join(t.TempDir(), "registry.db")
	clock := newFakeClock()
	start := clock.Now()
	cache := openCacheNoCleanup(t, path)
	c := newClient(t, clock, registry.WithCache(cache), registry.WithMaxRetries(1))
	list := func() registry.TagList {
		t.Helper()
		got, err := c.ListTags(t.Context(), repo)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	type step struct {
		name       string
		advance    time.Duration
		push       string // a tag pushed before the scan
		wantWrites int64  // write transactions by this scan
	}
	for _, s := range []step{
		{name: "first scan stores the list", wantWrites: 1},
		{name: "same list, 5m later", advance: 5 * time.Minute},
		{name: "same list, 40m later", advance: 35 * time.Minute},
		{name: "same list, 65m later: confirmed in the file", advance: 25 * time.Minute, wantWrites: 1},
		{name: "same list, 70m later", advance: 5 * time.Minute},
		{name: "a new tag", advance: time.Minute, push: "v2", wantWrites: 1},
		{name: "same list again", advance: time.Minute},
	} {
		t.Run(s.name, func(t *testing.T) {
			clock.Advance(s.advance)
			if s.push != "" {
				reg.PushImage(t, "app", s.push, testenv.ImageOptions{})
			}
			before := registry.CacheWrites(cache)
			list()
			if got := registry.CacheWrites(cache) - before; got != s.wantWrites {
				t.Errorf("%d cache writes, want %d", got, s.wantWrites)
			}
		})
	}
	lastScan := clock.Now() // 72 minutes after start

	// The registry fails: the stale list is the last one, confirmed at
	// the last scan.
	clock.Advance(time.Minute)
	reg.Faults.Add(testenv.Fault{Path: testenv.TagsPath, Do: testenv.Status(503)})
	got := list()
	if diff := cmp.Diff(registry.TagList{Tags: []string{"v1", "v2"}, FetchedAt: lastScan, Sum: tagSum("v1", "v2"), Stale: true}, got, cmpIgnoreErr); diff != "" {
		t.Errorf("stale list in the same process (-want +got):\n%s", diff)
	}
	if err := cache.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart the file knows the list of 71 minutes after start.
	cache = openCache(t, path)
	c = newClient(t, clock, registry.WithCache(cache), registry.WithMaxRetries(1))
	got = list()
	if diff := cmp.Diff(registry.TagList{Tags: []string{"v1", "v2"}, FetchedAt: start.Add(71 * time.Minute), Sum: tagSum("v1", "v2"), Stale: true}, got, cmpIgnoreErr); diff != "" {
		t.Errorf("stale list after a restart (-want +got):\n%s", diff)
	}
}

// tagSum is TagList.Sum as documented: the SHA-256 of the tags, each
// followed by a newline.
func tagSum(tags ...string) [32]byte {
	return sha256.Sum256([]byte(strings.Join(tags, "\n") + "\n"))
}
