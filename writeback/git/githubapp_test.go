package git_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback/git"
)

// appClock is a clock that tests move by hand.
type appClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *appClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *appClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// writeAppSecret writes a GitHub App secret as Kubernetes mounts it.
func writeAppSecret(t *testing.T, keys map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for k, v := range keys {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestGitHubAppSync clones and pushes over HTTP with installation tokens
// minted by a GitHub App, against git http-backend accepting exactly the
// tokens the fake GitHub issued; the token is minted again when it nears
// expiry.
func TestGitHubAppSync(t *testing.T) {
	clock := &appClock{now: time.Now()}
	gh := testenv.NewFakeGitHubApp(t, clock.Now).NewServer(t)
	srv := testenv.NewGitServer(t, testenv.GitServerOptions{Accept: gh.Accept})
	srv.CreateRepo(t, "fleet.git", "main")
	testenv.GitCommitFiles(t, srv.RepoDir("fleet.git"), "main", "Initial manifests", map[string]string{
		manifest: manifestWith(oldImage),
	})
	app, err := git.AppFromSecretDir(writeAppSecret(t, map[string]string{
		git.KeyGitHubAppID:             gh.AppID,
		git.KeyGitHubAppInstallationID: gh.InstallationID + "\n",
		git.KeyGitHubAppPrivateKey:     string(gh.PrivateKeyPEM()),
		git.KeyGitHubAppBaseURL:        gh.URL,
	}))
	if err != nil {
		t.Fatal(err)
	}
	app.Now = clock.Now
	opts := git.SyncOptions{
		URL: srv.RepoURL("fleet.git"), Branch: "main",
		CacheDir: filepath.Join(t.TempDir(), "git"),
		Auth:     git.Auth{GitHubApp: app},
	}
	co := mustSync(t, opts)
	if _, err := co.Update(context.Background(), setImage(newImage), git.UpdateOptions{Commit: commitOptions()}); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if got := show(t, srv.RepoDir("fleet.git"), "main", manifest); !strings.Contains(got, newImage) {
		t.Errorf("pushed manifest does not have %s:\n%s", newImage, got)
	}
	if n := gh.Tokens.Calls(); n != 1 {
		t.Errorf("token requests = %d, want 1 (one token for clone and push)", n)
	}
	co.Close()

	// 56 minutes later the hour-long token is within five minutes of
	// expiry: a new one is minted, and it works.
	clock.Advance(56 * time.Minute)
	co = mustSync(t, opts)
	if _, err := co.Update(context.Background(), setImage("ghcr.io/stefanprodan/podinfo:6.2.0"), git.UpdateOptions{Commit: commitOptions()}); err != nil {
		t.Fatalf("Update after refresh: %v", err)
	}
	if n := gh.Tokens.Calls(); n != 2 {
		t.Errorf("token requests after 56 minutes = %d, want 2", n)
	}

	// The token is a credential: it is refused in a commit message.
	tok, err := app.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := co.Update(context.Background(), setImage("ghcr.io/stefanprodan/podinfo:6.3.0"), git.UpdateOptions{Commit: func() git.CommitOptions {
		o := commitOptions()
		o.MessageTemplate = "token " + tok
		return o
	}()}); !errors.Is(err, git.ErrCredentialInMessage) {
		t.Errorf("Update with the token in the message: err = %v, want ErrCredentialInMessage", err)
	}
	assertNoToken(t, opts.CacheDir, tok)
}

func TestGitHubAppRefused(t *testing.T) {
	clock := &appClock{now: time.Now()}
	gh := testenv.NewFakeGitHubApp(t, clock.Now).NewServer(t)
	other := testenv.NewFakeGitHubApp(t, clock.Now)
	srv := testenv.NewGitServer(t, testenv.GitServerOptions{Accept: gh.Accept})
	srv.CreateRepo(t, "fleet.git", "main")
	testenv.GitCommitFiles(t, srv.RepoDir("fleet.git"), "main", "Initial manifests", map[string]string{manifest: manifestWith(oldImage)})

	tests := map[string]struct {
		installation string
		key          []byte
		wantInError  string
	}{
		"another installation": {installation: "1", key: gh.PrivateKeyPEM(), wantInError: "404 Not Found: Not Found"},
		"another app's key":    {installation: gh.InstallationID, key: other.PrivateKeyPEM(), wantInError: "401 Unauthorized: A JSON web token could not be decoded"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			app, err := git.NewGitHubApp(gh.AppID, tc.installation, tc.key, gh.URL)
			if err != nil {
				t.Fatal(err)
			}
			app.Now = clock.Now
			_, err = git.Sync(context.Background(), git.SyncOptions{
				URL: srv.RepoURL("fleet.git"), Branch: "main", CacheDir: filepath.Join(t.TempDir(), "git"),
				Auth: git.Auth{GitHubApp: app},
			})
			if !errors.Is(err, git.ErrGitHubApp) || !strings.Contains(err.Error(), tc.wantInError) {
				t.Errorf("Sync error = %v, want ErrGitHubApp with %q", err, tc.wantInError)
			}
		})
	}
}

func TestAppFromSecretDir(t *testing.T) {
	gh := testenv.NewFakeGitHubApp(t, time.Now)
	full := map[string]string{
		git.KeyGitHubAppID: gh.AppID, git.KeyGitHubAppInstallationID: gh.InstallationID,
		git.KeyGitHubAppPrivateKey: string(gh.PrivateKeyPEM()),
	}
	without := func(k string) map[string]string {
		m := map[string]string{}
		for kk, v := range full {
			if kk != k {
				m[kk] = v
			}
		}
		return m
	}
	with := func(k, v string) map[string]string {
		m := without(k)
		m[k] = v
		return m
	}
	tests := map[string]struct {
		keys    map[string]string
		wantErr string
	}{
		"complete":            {keys: full},
		"no app ID":           {keys: without(git.KeyGitHubAppID), wantErr: "key githubAppID is missing"},
		"no private key":      {keys: without(git.KeyGitHubAppPrivateKey), wantErr: "key githubAppPrivateKey is missing"},
		"app ID not a number": {keys: with(git.KeyGitHubAppID, "my-app"), wantErr: `githubAppID "my-app" is not a number`},
		"key not PEM":         {keys: with(git.KeyGitHubAppPrivateKey, "not a key"), wantErr: "githubAppPrivateKey is not PEM"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			app, err := git.AppFromSecretDir(writeAppSecret(t, tc.keys))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got := app.String(); strings.Contains(got, "PRIVATE") || !strings.Contains(got, gh.AppID) {
					t.Errorf("String() = %q", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, git.ErrGitHubApp) {
				t.Errorf("error = %v, want ErrGitHubApp with %q", err, tc.wantErr)
			}
		})
	}
}
