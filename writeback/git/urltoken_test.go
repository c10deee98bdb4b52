package git_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback/git"
)

// TestSyncTokenAsURLUser writes a token as the user name of the remote URL
// (https://TOKEN@host/path), as GitHub accepts: Sync authenticates with it,
// and the token stays out of errors, commit messages and the cache.
func TestSyncTokenAsURLUser(t *testing.T) {
	const token = "ghp_urlUserToken0123456789"
	srv := testenv.NewGitServer(t, testenv.GitServerOptions{Username: token})
	srv.CreateRepo(t, "fleet.git", "main")
	testenv.GitCommitFiles(t, srv.RepoDir("fleet.git"), "main", "Initial manifests", map[string]string{
		manifest: manifestWith("ghcr.io/stefanprodan/podinfo:6.0.0"),
	})
	url := strings.Replace(srv.RepoURL("fleet.git"), "://", "://"+token+"@", 1)
	cache := filepath.Join(t.TempDir(), "git")

	co := mustSync(t, git.SyncOptions{URL: url, Branch: "main", CacheDir: cache})
	if _, err := setImage(newImage)(context.Background(), co.Dir()); err != nil {
		t.Fatal(err)
	}
	opts := commitOptions()
	opts.MessageTemplate = "Update with {{ .Values.who }}"
	opts.Values = map[string]string{"who": token}
	if _, err := co.Commit(context.Background(), nil, opts); !errors.Is(err, git.ErrCredentialInMessage) {
		t.Errorf("Commit with the token in the message: err = %v, want ErrCredentialInMessage", err)
	}
	co.Close()

	_, err := git.Sync(context.Background(), git.SyncOptions{URL: url, Branch: "gone", CacheDir: cache})
	if err == nil {
		t.Fatal("Sync of a missing branch succeeded")
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("the error shows the token: %v", err)
	}
	bad := strings.Replace(url, "127.0.0.1", "127.0.0.1:1", 1) // no such port
	if _, err := git.Sync(context.Background(), git.SyncOptions{URL: bad, Branch: "main", CacheDir: cache}); err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("Sync of an unreachable remote: err = %v, want an error without the token", err)
	}
	assertNoToken(t, cache, token)
}

// assertNoToken fails when token is in a file name or file under dir.
func assertNoToken(t *testing.T, dir, token string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(path, token) {
			t.Errorf("the token is in the name %s", path)
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if strings.Contains(string(b), token) {
				t.Errorf("the token is in %s", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
