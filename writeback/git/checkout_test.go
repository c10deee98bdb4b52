package git_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback/git"
)

func TestSyncClonesThenFetches(t *testing.T) {
	f := newFixture(t)
	opts := f.syncOptions(t)

	co := mustSync(t, opts)
	if got := co.Head(); got != f.base {
		t.Errorf("Head() = %s, want %s", got, f.base)
	}
	got, err := os.ReadFile(filepath.Join(co.Dir(), manifest))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(manifestWith("ghcr.io/stefanprodan/podinfo:6.0.0"), string(got)); diff != "" {
		t.Errorf("worktree manifest (-want +got):\n%s", diff)
	}
	// The clone is shallow: only the head commit is there.
	if out := testenv.GitCLI(t, co.Dir(), "rev-parse", "--is-shallow-repository"); strings.TrimSpace(out) != "true" {
		t.Errorf("clone is not shallow")
	}
	// No credential in the config written to disk.
	cfg, err := os.ReadFile(filepath.Join(co.Dir(), ".git", "config"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cfg), testPassword) || strings.Contains(string(cfg), testUser) {
		t.Errorf(".git/config contains credentials:\n%s", cfg)
	}
	dir := co.Dir()
	co.Close()

	// Another writer moves main; the worktree has leftovers of a crash.
	next := testenv.GitCommitFiles(t, f.bare, "main", "Other change", map[string]string{"README.md": "# fleet v2\n"})
	if err := os.WriteFile(filepath.Join(dir, "stray.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, manifest), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.srv.ResetTraffic()

	co = mustSync(t, opts)
	if co.Dir() != dir {
		t.Errorf("second Sync used %s, want the cache %s", co.Dir(), dir)
	}
	if got := co.Head(); got != next {
		t.Errorf("Head() after fetch = %s, want %s", got, next)
	}
	if _, err := os.Stat(filepath.Join(dir, "stray.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("untracked file survived Sync: %v", err)
	}
	got, _ = os.ReadFile(filepath.Join(dir, manifest))
	if diff := cmp.Diff(manifestWith("ghcr.io/stefanprodan/podinfo:6.0.0"), string(got)); diff != "" {
		t.Errorf("modified file not reset (-want +got):\n%s", diff)
	}
	readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
	if string(readme) != "# fleet v2\n" {
		t.Errorf("README.md = %q, want the other writer's change", readme)
	}
	if tr := f.srv.Traffic(); tr.BytesOut > 4096 {
		t.Errorf("incremental fetch received %d bytes, want a small pack", tr.BytesOut)
	}
}

func TestSyncRebuildsBadCache(t *testing.T) {
	tests := map[string]func(t *testing.T, dir string){
		"objects removed": func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, ".git", "objects")); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, ".git", "objects"), 0o755); err != nil {
				t.Fatal(err)
			}
		},
		"not a repository": func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, ".git")); err != nil {
				t.Fatal(err)
			}
		},
		"remote points elsewhere": func(t *testing.T, dir string) {
			testenv.GitCLI(t, dir, "remote", "set-url", "origin", "https://evil.example.com/fleet.git")
		},
		"garbage HEAD": func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, ".git", "refs", "remotes", "origin", "main"), []byte("0123456789012345678901234567890123456789\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		},
	}
	for name, damage := range tests {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			opts := f.syncOptions(t)
			co := mustSync(t, opts)
			dir := co.Dir()
			co.Close()
			damage(t, dir)

			co = mustSync(t, opts)
			if got := co.Head(); got != f.base {
				t.Errorf("Head() = %s, want %s", got, f.base)
			}
			out := testenv.GitCLI(t, dir, "remote", "get-url", "origin")
			if strings.TrimSpace(out) != f.url {
				t.Errorf("origin = %q, want %q", out, f.url)
			}
			fsck(t, dir)
		})
	}
}

func TestSyncErrors(t *testing.T) {
	f := newFixture(t)
	tests := map[string]struct {
		mutate func(*git.SyncOptions)
		is     error
		text   string
	}{
		"missing branch": {
			mutate: func(o *git.SyncOptions) { o.Branch = "nope" },
			is:     git.ErrBranchNotFound,
		},
		"wrong password": {
			mutate: func(o *git.SyncOptions) { o.Auth.Password = "wrong-password-123" },
			text:   "authentication",
		},
		"no branch": {
			mutate: func(o *git.SyncOptions) { o.Branch = "" },
			is:     git.ErrInvalidOptions,
		},
		"bad URL": {
			mutate: func(o *git.SyncOptions) { o.URL = "ftp://example.com/x" },
			is:     git.ErrInvalidOptions,
		},
		"ssh without known_hosts": {
			mutate: func(o *git.SyncOptions) {
				o.URL = "ssh://git@127.0.0.1:1/fleet.git"
				o.Auth = git.Auth{Identity: testenv.NewSSHKey(t, "").PrivatePEM}
			},
			is: git.ErrNoKnownHosts,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			opts := f.syncOptions(t)
			tc.mutate(&opts)
			_, err := git.Sync(context.Background(), opts)
			if err == nil {
				t.Fatal("Sync succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not mention %q", err, tc.text)
			}
			for _, secret := range []string{testPassword, "wrong-password-123"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows a password: %v", err)
				}
			}
		})
	}
}

func TestSyncCredentialsInURL(t *testing.T) {
	f := newFixture(t)
	url := strings.Replace(f.url, "http://", "http://"+testUser+":"+testPassword+"@", 1)
	remote, err := git.ParseRemoteURL(url)
	if err != nil {
		t.Fatal(err)
	}
	// The URL as written, or parsed once by the caller (SyncOptions.Remote).
	for name, set := range map[string]func(*git.SyncOptions){
		"URL":    func(o *git.SyncOptions) { o.URL = url },
		"Remote": func(o *git.SyncOptions) { o.URL, o.Remote = "", remote },
	} {
		t.Run(name, func(t *testing.T) {
			opts := f.syncOptions(t)
			opts.Auth = git.Auth{}
			set(&opts)
			co := mustSync(t, opts)
			if co.URL() != f.url {
				t.Errorf("URL() = %q, want %q", co.URL(), f.url)
			}
			cfg, err := os.ReadFile(filepath.Join(co.Dir(), ".git", "config"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(cfg), testPassword) {
				t.Errorf(".git/config contains the password:\n%s", cfg)
			}
		})
	}
}

func TestSyncCustomCA(t *testing.T) {
	srv := testenv.NewGitServer(t, testenv.GitServerOptions{TLS: true, Username: testUser, Password: testPassword})
	url := srv.CreateRepo(t, "fleet.git", "main")
	head := testenv.GitCommitFiles(t, srv.RepoDir("fleet.git"), "main", "init", map[string]string{"a.txt": "a\n"})
	opts := git.SyncOptions{URL: url, Branch: "main", CacheDir: t.TempDir(), Auth: git.Auth{Username: testUser, Password: testPassword}}

	if _, err := git.Sync(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Sync without the CA: err = %v, want a certificate error", err)
	}
	opts.Auth.CABundle = srv.CACert
	co := mustSync(t, opts)
	if co.Head() != head {
		t.Errorf("Head() = %s, want %s", co.Head(), head)
	}
}

// TestSyncRewoundBranch has the remote branch force-pushed back to an older
// commit, which go-git cannot always fetch into a shallow clone: the cache
// must end up at the remote's commit either way.
func TestSyncRewoundBranch(t *testing.T) {
	f := newFixture(t)
	next := testenv.GitCommitFiles(t, f.bare, "main", "Next", map[string]string{"README.md": "# next\n"})
	opts := f.syncOptions(t)
	co := mustSync(t, opts)
	if co.Head() != next {
		t.Fatalf("Head() = %s, want %s", co.Head(), next)
	}
	co.Close()
	testenv.GitCLI(t, f.bare, "update-ref", "refs/heads/main", f.base)

	co = mustSync(t, opts)
	if co.Head() != f.base {
		t.Errorf("Head() = %s, want the rewound %s", co.Head(), f.base)
	}
	readme, err := os.ReadFile(filepath.Join(co.Dir(), "README.md"))
	if err != nil || string(readme) != "# fleet\n" {
		t.Errorf("README.md = %q, %v", readme, err)
	}
}

// TestSyncLocksCache checks that two checkouts of one cache never overlap.
func TestSyncLocksCache(t *testing.T) {
	f := newFixture(t)
	opts := f.syncOptions(t)
	co := mustSync(t, opts)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := git.Sync(ctx, opts); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "lock") {
		t.Fatalf("second Sync while the first is open: err = %v, want a lock timeout", err)
	}
	co.Close()
	mustSync(t, opts)
}
