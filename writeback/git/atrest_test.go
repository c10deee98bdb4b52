package git_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	gossh "golang.org/x/crypto/ssh"

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
		// listed is whether the next Sync fetches nothing: the remote's
		// list of refs says the cache has its head.
		listed bool
		// is is the error the next Sync returns.
		is error
		// manifest is the manifest the worktree holds after it ("" when
		// it fails).
		manifest string
	}{
		"nothing new": {
			between:  func(_ *testing.T, f *fixture, _ string, _ func()) string { return f.base },
			listed:   true,
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
			// The remote did not move: only the worktree is reset.
			listed:   true,
			manifest: manifestWith("ghcr.io/stefanprodan/podinfo:6.0.0"),
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			// A second commit, so that the clone is shallow.
			f.base = testenv.GitCommitFiles(t, f.bare, "main", "docs", map[string]string{"docs/index.md": "# docs\n"})
			opts := f.syncOptions(t)
			opts.ListFirst = true
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
			var log bytes.Buffer
			opts.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
			co, err := git.Sync(context.Background(), opts)
			if got := packs.Load() > 0; got != tc.packs {
				t.Errorf("Sync negotiated a pack: %v, want %v", got, tc.packs)
			}
			if got := strings.Contains(log.String(), "fetched: unchanged"); got != tc.listed {
				t.Errorf("Sync answered from the list of refs: %v, want %v; log:\n%s", got, tc.listed, &log)
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

// TestSyncAtRestOverSSH: over SSH too, a Sync at rest lists the remote's
// refs, and sees another writer's commit.
func TestSyncAtRestOverSSH(t *testing.T) {
	f := newFixture(t)
	key := testenv.NewSSHKey(t, "")
	srv := testenv.NewSSHGitServer(t, testenv.SSHGitServerOptions{Root: f.srv.Root, AuthorizedKeys: []gossh.PublicKey{key.Public}})
	opts := git.SyncOptions{URL: srv.RepoURL("fleet.git"), Branch: "main", CacheDir: t.TempDir(), Auth: git.Auth{Identity: key.PrivatePEM, KnownHosts: srv.KnownHosts}, ListFirst: true}
	run(t, opts, nothing)
	if out := run(t, opts, nothing); !out.NothingToDo {
		t.Fatalf("run at rest: %+v", out)
	}
	var log bytes.Buffer
	opts.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	run(t, opts, nothing)
	if !strings.Contains(log.String(), "fetched: unchanged") {
		t.Errorf("Sync at rest fetched; log:\n%s", &log)
	}
	next := testenv.GitCommitFiles(t, f.bare, "main", "bump", map[string]string{manifest: manifestWith("ghcr.io/stefanprodan/podinfo:6.1.0")})
	co, err := git.Sync(context.Background(), opts)
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	defer co.Close()
	if co.Head() != next {
		t.Errorf("Head = %s, want %s", co.Head(), next)
	}
}
