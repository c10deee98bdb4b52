package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestRunOnceUserSSH pushes over SSH to a repository whose GitRepository
// names no secretRef, with the SSH setup of the user running hoist, as the
// git command would find it: keys in ~/.ssh, an ssh-agent, or the
// --ssh-key and --known-hosts flags; ~/.ssh/known_hosts is checked.
func TestRunOnceUserSSH(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "apps/api", "2.0.0", testenv.ImageOptions{})
	key := testenv.NewSSHKey(t, "")
	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{})
	sshSrv := testenv.NewSSHGitServer(t, testenv.SSHGitServerOptions{Root: gitSrv.Root, AuthorizedKeys: []gossh.PublicKey{key.Public}})
	agent := testenv.StartSSHAgent(t, key)

	tests := map[string]struct {
		home  map[string][]byte // files under ~/.ssh
		env   []string
		flags func(dir string) []string
		fail  string // what the error names; "" for success
	}{
		"keys in ~/.ssh": {
			home: map[string][]byte{"id_ed25519": key.PrivatePEM, "known_hosts": sshSrv.KnownHosts},
		},
		"ssh-agent": {
			home: map[string][]byte{"known_hosts": sshSrv.KnownHosts},
			env:  []string{"SSH_AUTH_SOCK=" + agent},
		},
		"flags": {
			flags: func(dir string) []string {
				writeFile(t, filepath.Join(dir, "key"), string(key.PrivatePEM))
				writeFile(t, filepath.Join(dir, "hosts"), string(sshSrv.KnownHosts))
				return []string{"--ssh-key", filepath.Join(dir, "key"), "--known-hosts", filepath.Join(dir, "hosts")}
			},
		},
		"no key": {
			home: map[string][]byte{"known_hosts": sshSrv.KnownHosts},
			fail: "no identity (private key) and no ssh-agent",
		},
		"no known_hosts": {
			home: map[string][]byte{"id_ed25519": key.PrivatePEM},
			fail: "known_hosts",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			repo := strings.ReplaceAll(name, " ", "-")
			repo = strings.NewReplacer("~", "", "/", "", ".", "").Replace(repo) + ".git"
			bare := gitSrv.RepoDir(repo)
			testenv.GitInitBare(t, bare, "main")
			testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
				"api.yaml": fmt.Sprintf("image: %s/apps/api:1.0.0 # {\"$imagepolicy\": \"apps:api\"}\n", reg.Host),
			})
			dir := t.TempDir()
			home := filepath.Join(dir, "home")
			for f, b := range tc.home {
				writeFile(t, filepath.Join(home, ".ssh", f), string(b))
			}
			cfg := filepath.Join(dir, "hoist.yaml")
			writeFile(t, cfg, apiConfig(reg.Host, sshSrv.RepoURL(repo)))
			env := append([]string{"HOME=" + home, "HOIST_STATE_DIR=" + filepath.Join(dir, "state")}, tc.env...)
			args := []string{"run", "--once", "-c", cfg}
			if tc.flags != nil {
				args = append(args, tc.flags(dir)...)
			}
			r := hoist(t, env, args...)
			if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") {
				t.Errorf("key material in the output:\n%s%s", r.stdout, r.stderr)
			}
			if tc.fail != "" {
				if r.code != 1 || !strings.Contains(r.stdout+r.stderr, tc.fail) {
					t.Errorf("exit %d, want 1 naming %q\n%s%s", r.code, tc.fail, r.stdout, r.stderr)
				}
				return
			}
			if r.code != 0 || !strings.Contains(testenv.GitCLI(t, bare, "show", "main:api.yaml"), "apps/api:2.0.0") {
				t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}
