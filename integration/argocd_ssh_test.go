package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestArgoCDGitSecretSSH pushes over SSH with the Secret that Image
// Updater's write-back-method git:secret:NS/NAME names: an Argo CD
// repository Secret, whose SSH key is under sshPrivateKey (hoist's own
// Secrets name it identity).
func TestArgoCDGitSecretSSH(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "apps/web", "1.2.5", testenv.ImageOptions{})
	key := testenv.NewSSHKey(t, "")
	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{})
	sshSrv := testenv.NewSSHGitServer(t, testenv.SSHGitServerOptions{Root: gitSrv.Root, AuthorizedKeys: []gossh.PublicKey{key.Public}})
	tests := map[string]struct {
		secret map[string]string // the Secret's keys
		fail   string            // what the error names; "" for success
	}{
		"sshPrivateKey": {secret: map[string]string{"sshPrivateKey": string(key.PrivatePEM), "known_hosts": string(sshSrv.KnownHosts)}},
		"identity":      {secret: map[string]string{"identity": string(key.PrivatePEM), "known_hosts": string(sshSrv.KnownHosts)}},
		"no key":        {secret: map[string]string{"known_hosts": string(sshSrv.KnownHosts)}, fail: "no identity"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			repo := strings.ReplaceAll(name, " ", "-") + ".git"
			bare := gitSrv.RepoDir(repo)
			testenv.GitInitBare(t, bare, "main")
			testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
				"manifests/deploy.yaml": fmt.Sprintf("image: %s/apps/web:1.2.0 # {\"$imagepolicy\": \"argocd:plain-web\"}\n", reg.Host),
			})
			dir := t.TempDir()
			secrets := filepath.Join(dir, "secrets")
			for k, v := range tc.secret {
				writeFile(t, filepath.Join(secrets, "repo-ssh", k), v)
			}
			cfg := filepath.Join(dir, "config.yaml")
			writeFile(t, cfg, `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: plain
  namespace: argocd
  annotations:
    argocd-image-updater.argoproj.io/image-list: `+reg.Host+`/apps/web:~1.2
    argocd-image-updater.argoproj.io/write-back-method: git:secret:argocd/repo-ssh
spec:
  source: {repoURL: '`+sshSrv.RepoURL(repo)+`', targetRevision: main, path: manifests}
`)
			env := []string{"HOME=" + dir, "HOIST_STATE_DIR=" + filepath.Join(dir, "state"), "HOIST_SECRETS_DIR=" + secrets}
			r := hoist(t, env, "run", "--once", "-c", cfg)
			if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") {
				t.Errorf("key material in the output:\n%s%s", r.stdout, r.stderr)
			}
			if tc.fail != "" {
				if r.code != 1 || !strings.Contains(r.stdout+r.stderr, tc.fail) {
					t.Errorf("exit %d, want 1 naming %q\n%s%s", r.code, tc.fail, r.stdout, r.stderr)
				}
				return
			}
			if r.code != 0 || !strings.Contains(testenv.GitCLI(t, bare, "show", "main:manifests/deploy.yaml"), "apps/web:1.2.5") {
				t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}
