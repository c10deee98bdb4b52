package automation_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// TestGitHubAppTokenAcrossRuns: the installation token of a GitHub App is
// minted once for many runs (the service and the controller run the same
// automation again and again), and again only five minutes before it
// expires, on the Runner's clock; the new token works. Other credentials
// are another app, with a token of its own.
func TestGitHubAppTokenAcrossRuns(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	gh := testenv.NewFakeGitHubApp(t, clock).NewServer(t)
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "apps/api", "2.0.0", testenv.ImageOptions{})
	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{Accept: gh.Accept})
	bare := gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
		"api.yaml": fmt.Sprintf("image: %s/apps/api:1.0.0 # {\"$imagepolicy\": \"apps:api\"}\n", reg.Host),
	})
	secrets := t.TempDir()
	writeSecret := func(key []byte) {
		t.Helper()
		for k, v := range map[string]string{
			"githubAppID": gh.AppID, "githubAppInstallationID": gh.InstallationID,
			"githubAppPrivateKey": string(key), "githubAppBaseURL": gh.URL,
		} {
			if err := os.MkdirAll(filepath.Join(secrets, "github-app"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(secrets, "github-app", k), []byte(v), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeSecret(gh.PrivateKeyPEM())
	set, err := config.Parse("hoist.yaml", fmt.Appendf(nil, `apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: api, namespace: apps}
spec: {image: %s/apps/api}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: api, namespace: apps}
spec: {imageRepositoryRef: {name: api}, policy: {semver: {range: '>=1'}}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: apps}
spec: {url: %s, provider: github, secretRef: {name: github-app}, ref: {branch: main}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: api, namespace: apps}
spec:
  sourceRef: {kind: GitRepository, name: fleet}
  git: {commit: {author: {name: hoist, email: hoist@example.com}}}
`, reg.Host, gitSrv.RepoURL("fleet.git")))
	if err != nil {
		t.Fatal(err)
	}
	client, err := registry.New()
	if err != nil {
		t.Fatal(err)
	}
	runner := &automation.Runner{Scanner: &automation.Scanner{Registry: client}, StateDir: t.TempDir(), SecretsDir: secrets, Now: clock}
	run := func(wantMints int) {
		t.Helper()
		res := runner.Run(t.Context(), set, set.Automations[0])
		if res.Failed() {
			t.Fatalf("run: %v %v", res.Err, res.Errors)
		}
		if n := gh.Tokens.Calls(); n != wantMints {
			t.Errorf("installation tokens minted = %d, want %d", n, wantMints)
		}
	}
	run(1)
	if got := testenv.GitCLI(t, bare, "show", "main:api.yaml"); !strings.Contains(got, "apps/api:2.0.0") {
		t.Fatalf("pushed api.yaml = %q, want apps/api:2.0.0", got)
	}
	run(1)
	advance(54 * time.Minute) // six minutes left: kept
	run(1)
	advance(2 * time.Minute) // four minutes left: refreshed
	run(2)
	run(2)

	// Other credentials (here another installation, which the fake does
	// not have) are another app, which asks for a token of its own.
	if err := os.WriteFile(filepath.Join(secrets, "github-app", "githubAppInstallationID"), []byte("99"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := runner.Run(t.Context(), set, set.Automations[0])
	if !res.Failed() || !strings.Contains(fmt.Sprint(res.Err, res.Errors), "404") {
		t.Errorf("run with another installation: %v %v, want GitHub's 404", res.Err, res.Errors)
	}
	if n := gh.Tokens.Calls(); n != 3 {
		t.Errorf("installation tokens asked = %d, want 3 (a new installation is a new app)", n)
	}
}
