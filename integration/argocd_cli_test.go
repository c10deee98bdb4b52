package integration

import (
	"encoding/json"
	"fmt"
	"os"
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

// TestArgoCDExtCredentials: hoist scan runs an ext:/SCRIPT pull secret
// only with --allow-argocd-ext-credentials; without it the policy's error
// names the pull secret and the flag.
func TestArgoCDExtCredentials(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{Auth: testenv.AuthBasic, Username: "puller", Password: "pull-pw-2"})
	reg.PushImage(t, "apps/web", "1.0.0", testenv.ImageOptions{})
	dir := t.TempDir()
	script := filepath.Join(dir, "creds.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho puller:pull-pw-2\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	writeFile(t, cfg, `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: ext
  annotations:
    argocd-image-updater.argoproj.io/image-list: web=`+reg.Host+`/apps/web
    argocd-image-updater.argoproj.io/web.pull-secret: ext:`+script+`
    argocd-image-updater.argoproj.io/write-back-method: git
spec:
  source: {repoURL: https://git.example.com/r.git, targetRevision: main, path: .}
`)
	tests := map[string]struct {
		flags   []string
		wantTag string
		wantErr string
	}{
		"without the flag": {wantErr: "--allow-argocd-ext-credentials"},
		"with the flag":    {flags: []string{"--allow-argocd-ext-credentials"}, wantTag: "1.0.0"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"scan", "-c", cfg, "--state-dir", filepath.Join(dir, "state"), "-o", "json"}, tc.flags...)
			r := hoist(t, nil, args...)
			var out struct {
				Policies []struct{ Name, Tag, Error string }
			}
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
				t.Fatalf("%v\n%s\n%s", err, r.stdout, r.stderr)
			}
			if len(out.Policies) != 1 {
				t.Fatalf("policies: %s", r.stdout)
			}
			p := out.Policies[0]
			if p.Tag != tc.wantTag || !strings.Contains(p.Error, tc.wantErr) || (tc.wantErr == "" && p.Error != "") {
				t.Errorf("policy = %+v, want tag %q, error naming %q", p, tc.wantTag, tc.wantErr)
			}
			if strings.Contains(r.stdout+r.stderr, "pull-pw-2") {
				t.Errorf("the password leaked into the output:\n%s\n%s", r.stdout, r.stderr)
			}
		})
	}
}
