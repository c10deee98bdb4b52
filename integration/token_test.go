package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// apiConfig is an automation that writes the newest apps/api of registry
// (host:port) to the main branch of the Git repository at gitURL, which
// names no secretRef.
func apiConfig(registry, gitURL string) string {
	return fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: api, namespace: apps}
spec: {image: %s/apps/api}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: api, namespace: apps}
spec:
  imageRepositoryRef: {name: api}
  policy: {semver: {range: '>=1'}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: api, namespace: apps}
spec:
  git:
    url: %s
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
`, registry, gitURL)
}

// apiFleet is a registry holding apps/api:2.0.0 and a Git server with
// fleet.git, whose main branch has api.yaml at apps/api:1.0.0 with a marker
// of apps:api; base is main's commit.
func apiFleet(t *testing.T) (reg *testenv.Registry, gitSrv *testenv.GitServer, bare, base string) {
	t.Helper()
	reg = testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "apps/api", "2.0.0", testenv.ImageOptions{})
	gitSrv = testenv.NewGitServer(t, testenv.GitServerOptions{})
	bare = gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	base = testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
		"api.yaml": fmt.Sprintf("image: %s/apps/api:1.0.0 # {\"$imagepolicy\": \"apps:api\"}\n", reg.Host),
	})
	return reg, gitSrv, bare, base
}

// TestRunOnceGitToken authenticates to Git with a token from an
// environment variable or a file, for repositories without a secretRef.
func TestRunOnceGitToken(t *testing.T) {
	const token = "tok-abc-123"
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "apps/api", "2.0.0", testenv.ImageOptions{})
	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{Username: "git", Password: token})

	for _, how := range []string{"env", "file", "none"} {
		t.Run(how, func(t *testing.T) {
			bare := gitSrv.RepoDir(how + ".git")
			testenv.GitInitBare(t, bare, "main")
			testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
				"api.yaml": fmt.Sprintf("image: %s/apps/api:1.0.0 # {\"$imagepolicy\": \"apps:api\"}\n", reg.Host),
			})
			dir := t.TempDir()
			cfg := filepath.Join(dir, "hoist.yaml")
			writeFile(t, cfg, apiConfig(reg.Host, gitSrv.RepoURL(how+".git")))
			env := []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state"), "GIT_TOKEN=" + token}
			args := []string{"run", "--once", "-c", cfg}
			switch how {
			case "env":
				args = append(args, "--git-token-env", "GIT_TOKEN")
			case "file":
				tokenFile := filepath.Join(dir, "token")
				writeFile(t, tokenFile, token+"\n")
				args = append(args, "--git-token-file", tokenFile)
			}
			r := hoist(t, env, args...)
			if strings.Contains(r.stdout+r.stderr, token) {
				t.Errorf("the token leaked into the output:\n%s%s", r.stdout, r.stderr)
			}
			if how == "none" {
				if r.code != 1 {
					t.Errorf("without a token: exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
				}
				return
			}
			if r.code != 0 || !strings.Contains(testenv.GitCLI(t, bare, "show", "main:api.yaml"), "apps/api:2.0.0") {
				t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}
