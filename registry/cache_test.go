package registry_test

import (
	"bytes"
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
	if diff := cmp.Diff(registry.TagList{Tags: []string{"v1"}, FetchedAt: fetched, Stale: true}, got,
		cmpIgnoreErr); diff != "" {
		t.Errorf("stale list (-want +got):\n%s", diff)
	}

	// Without a cached list, the error is returned.
	if _, err := c.ListTags(t.Context(), registry.Repo{Image: reg.Ref("other", "")}); err == nil {
		t.Error("ListTags of an uncached repository succeeded while the registry is down")
	}
}

var cmpIgnoreErr = cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Err" }, cmp.Ignore())
