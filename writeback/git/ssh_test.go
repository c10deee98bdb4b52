package git_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback/git"
)

func TestSSH(t *testing.T) {
	f := newFixture(t)
	key := testenv.NewSSHKey(t, "")
	encrypted := testenv.NewSSHKey(t, "key passphrase")
	srv := testenv.NewSSHGitServer(t, testenv.SSHGitServerOptions{
		Root:           f.srv.Root,
		AuthorizedKeys: []gossh.PublicKey{key.Public, encrypted.Public},
	})
	url := srv.RepoURL("fleet.git")
	otherHost := testenv.NewSSHKey(t, "")
	wrongKnownHosts := []byte(knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, otherHost.Public) + "\n")
	unknownKnownHosts := []byte(knownhosts.Line([]string{"[example.com]:2222"}, srv.HostKey.Public) + "\n")
	agentWithKey := testenv.StartSSHAgent(t, key)
	agentWithOther := testenv.StartSSHAgent(t, otherHost)
	noAgent := filepath.Join(t.TempDir(), "no-agent.sock")

	tests := map[string]struct {
		auth git.Auth
		is   error
		text string
	}{
		"key": {
			auth: git.Auth{Identity: key.PrivatePEM, KnownHosts: srv.KnownHosts},
		},
		"encrypted key": {
			auth: git.Auth{Identity: encrypted.PrivatePEM, Password: "key passphrase", KnownHosts: srv.KnownHosts},
		},
		"encrypted key without passphrase": {
			auth: git.Auth{Identity: encrypted.PrivatePEM, KnownHosts: srv.KnownHosts},
			text: "no passphrase",
		},
		"wrong host key": {
			auth: git.Auth{Identity: key.PrivatePEM, KnownHosts: wrongKnownHosts},
			is:   git.ErrHostKeyMismatch,
		},
		"unknown host": {
			auth: git.Auth{Identity: key.PrivatePEM, KnownHosts: unknownKnownHosts},
			is:   git.ErrUnknownHost,
		},
		"no known_hosts": {
			auth: git.Auth{Identity: key.PrivatePEM},
			is:   git.ErrNoKnownHosts,
		},
		"ssh-agent": {
			auth: git.Auth{AgentSocket: agentWithKey, KnownHosts: srv.KnownHosts},
		},
		"ssh-agent without the key, then the identity": {
			auth: git.Auth{AgentSocket: agentWithOther, Identity: key.PrivatePEM, KnownHosts: srv.KnownHosts},
		},
		"ssh-agent unreachable, then the identity": {
			auth: git.Auth{AgentSocket: noAgent, Identity: key.PrivatePEM, KnownHosts: srv.KnownHosts},
		},
		"ssh-agent unreachable, no identity": {
			auth: git.Auth{AgentSocket: noAgent, KnownHosts: srv.KnownHosts},
			text: "ssh-agent",
		},
		"ssh-agent without the key": {
			auth: git.Auth{AgentSocket: agentWithOther, KnownHosts: srv.KnownHosts},
			text: "unable to authenticate",
		},
		"ssh-agent checks host keys too": {
			auth: git.Auth{AgentSocket: agentWithKey, KnownHosts: wrongKnownHosts},
			is:   git.ErrHostKeyMismatch,
		},
		"unencrypted key beside an HTTPS token": {
			auth: git.Auth{Identity: key.PrivatePEM, Password: "https-token", KnownHosts: srv.KnownHosts},
		},
		"key not authorized": {
			auth: git.Auth{Identity: otherHost.PrivatePEM, KnownHosts: srv.KnownHosts},
			text: "unable to authenticate",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			opts := git.SyncOptions{URL: url, Branch: "main", CacheDir: t.TempDir(), Auth: tc.auth}
			co, err := git.Sync(context.Background(), opts)
			if tc.is != nil || tc.text != "" {
				if err == nil {
					co.Close()
					t.Fatal("Sync succeeded")
				}
				t.Logf("error: %v", err)
				if tc.is != nil && !errors.Is(err, tc.is) {
					t.Errorf("error %v does not wrap %v", err, tc.is)
				}
				if !strings.Contains(err.Error(), tc.text) {
					t.Errorf("error %q does not mention %q", err, tc.text)
				}
				if strings.Contains(err.Error(), "key passphrase") {
					t.Errorf("error shows the passphrase: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			defer co.Close()
			if co.Head() != f.base {
				t.Errorf("Head() = %s, want %s", co.Head(), f.base)
			}
			var waits []time.Duration
			out, err := co.Update(context.Background(), setImage(newImage), updateOptions(&waits))
			if err != nil {
				t.Fatalf("Update over SSH: %v", err)
			}
			if got := testenv.GitHead(t, f.bare, "main"); got != out.Commit {
				t.Errorf("remote main = %s, want %s", got, out.Commit)
			}
			// Leave main as it was for the next case.
			testenv.GitCLI(t, f.bare, "update-ref", "refs/heads/main", f.base)
		})
	}
	var pushes int
	for _, c := range srv.Commands() {
		if strings.HasPrefix(c, "git-receive-pack ") {
			pushes++
		}
	}
	if pushes == 0 {
		t.Errorf("no push went over SSH; commands: %v", srv.Commands())
	}
}
