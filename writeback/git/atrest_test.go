package git_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback/git"
)

// TestSyncAtRest: a Sync whose cache is clean at the remote head asks the
// server for its refs only (no pack is negotiated), and any change of the
// remote or of the cache between two runs is still seen: another writer's
// commit, a branch rewound or deleted, a run that stopped half-way.
func TestSyncAtRest(t *testing.T) {
	tests := map[string]struct {
		// between runs after a first run left the cache clean at dir
		// (again is another run); it returns the head the next Sync
		// must check out.
		between func(t *testing.T, f *fixture, dir string, again func()) string
		// packs is whether the next Sync negotiates a pack: only for
		// objects it lacks.
		packs bool
		// is is the error the next Sync returns.
		is error
		// manifest is the manifest the worktree holds after it ("" when
		// it fails).
		manifest string
	}{
		"nothing new": {
			between:  func(_ *testing.T, f *fixture, _ string, _ func()) string { return f.base },
			manifest: manifestWith("ghcr.io/stefanprodan/podinfo:6.0.0"),
		},
		"another writer's commit": {
			between: func(t *testing.T, f *fixture, _ string, _ func()) string {
				return testenv.GitCommitFiles(t, f.bare, "main", "bump", map[string]string{manifest: manifestWith("ghcr.io/stefanprodan/podinfo:6.1.0")})
			},
			packs:    true,
			manifest: manifestWith("ghcr.io/stefanprodan/podinfo:6.1.0"),
		},
		"the branch rewound to a commit the cache has": {
			between: func(t *testing.T, f *fixture, _ string, again func()) string {
				testenv.GitCommitFiles(t, f.bare, "main", "bump", map[string]string{manifest: manifestWith("ghcr.io/stefanprodan/podinfo:6.1.0")})
				again()
				testenv.GitCLI(t, f.bare, "update-ref", "refs/heads/main", f.base)
				return f.base
			},
			manifest: manifestWith("ghcr.io/stefanprodan/podinfo:6.0.0"),
		},
		"the branch deleted": {
			between: func(t *testing.T, f *fixture, _ string, _ func()) string {
				testenv.GitCLI(t, f.bare, "update-ref", "-d", "refs/heads/main")
				return ""
			},
			is: git.ErrBranchNotFound,
		},
		"a run stopped half-way": {
			between: func(t *testing.T, f *fixture, dir string, _ func()) string {
				if err := os.Remove(filepath.Join(dir, ".git", "hoist-clean")); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, manifest), []byte("half"), 0o600); err != nil {
					t.Fatal(err)
				}
				return f.base
			},
			manifest: manifestWith("ghcr.io/stefanprodan/podinfo:6.0.0"),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			// A second commit, so that the clone is shallow.
			f.base = testenv.GitCommitFiles(t, f.bare, "main", "docs", map[string]string{"docs/index.md": "# docs\n"})
			opts := f.syncOptions(t)
			var packs atomic.Int32
			f.srv.SetMiddleware(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
						packs.Add(1)
					}
					next.ServeHTTP(w, r)
				})
			})
			run(t, opts, nothing)
			dir := cacheDir(t, opts)
			want := tc.between(t, f, dir, func() { run(t, opts, nothing) })
			packs.Store(0)
			co, err := git.Sync(context.Background(), opts)
			if got := packs.Load() > 0; got != tc.packs {
				t.Errorf("Sync negotiated a pack: %v, want %v", got, tc.packs)
			}
			if tc.is != nil {
				if !errors.Is(err, tc.is) {
					t.Fatalf("Sync: %v, want %v", err, tc.is)
				}
				return
			}
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			defer co.Close()
			if co.Head() != want {
				t.Errorf("Head = %s, want %s", co.Head(), want)
			}
			if got := readAt(t, dir, manifest); got != tc.manifest {
				t.Errorf("manifest = %q, want %q", got, tc.manifest)
			}
		})
	}
}
