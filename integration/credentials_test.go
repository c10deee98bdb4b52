package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// urlToken is a Git token written as the user name of the Git URL
// (https://TOKEN@host/path), as GitHub accepts.
const urlToken = "ghp_urlToken0123456789abcdefXYZ"

// tokenURLConfig is two automations that reach the Git server at base with
// urlToken as the URL's user name: api writes the newest apps/api of
// registry (host:port) to fleet.git, gone names a repository that does not
// exist, so that its runs fail and their errors are reported.
func tokenURLConfig(registry, base string) string {
	url := strings.Replace(base, "://", "://"+urlToken+"@", 1)
	return fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: api, namespace: apps}
spec: {image: %[1]s/apps/api, interval: 1h}
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
  interval: 1h
  git:
    url: %[2]s/fleet.git
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: gone, namespace: apps}
spec:
  interval: 1h
  git:
    url: %[2]s/gone.git
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
`, registry, url)
}

// tokenURLFleet is a registry with apps/api:2.0.0 and a Git server that
// takes urlToken as the basic-auth user name, with fleet.git at
// apps/api:1.0.0; it returns the configuration directory and the bare
// repository.
func tokenURLFleet(t *testing.T) (cfg, bare string) {
	t.Helper()
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "apps/api", "2.0.0", testenv.ImageOptions{})
	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{Username: urlToken})
	bare = gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
		"api.yaml": fmt.Sprintf("image: %s/apps/api:1.0.0 # {\"$imagepolicy\": \"apps:api\"}\n", reg.Host),
	})
	cfg = filepath.Join(t.TempDir(), "config")
	writeFile(t, filepath.Join(cfg, "hoist.yaml"), tokenURLConfig(reg.Host, gitSrv.URL))
	return cfg, bare
}

// assertNoURLToken fails when urlToken is in text, or in the name or
// content of a file under dir (the state directory: bbolt keys and values,
// Git cache directories and their configuration).
func assertNoURLToken(t *testing.T, what, text, dir string) {
	t.Helper()
	if strings.Contains(text, urlToken) {
		t.Errorf("the token leaked into %s:\n%s", what, text)
	}
	if dir == "" {
		return
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(path, urlToken) {
			t.Errorf("the token is in the state file name %s", path)
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(urlToken)) {
				t.Errorf("the token is in the state file %s", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGitTokenInURLRunOnce runs automations whose Git URL carries a token
// as its user name: validate warns, the run authenticates with it, and the
// token is in no output, text or JSON, nor in the state directory. A URL
// with user and token (x-access-token:TOKEN@) is refused without showing it.
func TestGitTokenInURLRunOnce(t *testing.T) {
	cfg, bare := tokenURLFleet(t)

	r := hoist(t, nil, "validate", cfg)
	if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "looks like a token") || !strings.Contains(r.stdout+r.stderr, "spec.git.secretRef") {
		t.Errorf("hoist validate: exit %d, want 0 and a warning about the token\n%s%s", r.code, r.stdout, r.stderr)
	}
	assertNoURLToken(t, "hoist validate's output", r.stdout+r.stderr, "")

	for _, output := range []string{"text", "json"} {
		t.Run(output, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			r := hoist(t, []string{"HOIST_STATE_DIR=" + state}, "run", "--once", "--log-level", "debug", "-o", output, "-c", cfg)
			if r.code != 1 {
				t.Errorf("exit %d, want 1 (automation gone fails)\n%s%s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout+r.stderr, "gone.git") {
				t.Errorf("the failure of apps/gone is not reported with its repository:\n%s%s", r.stdout, r.stderr)
			}
			if output == "json" && !json.Valid([]byte(r.stdout)) {
				t.Errorf("-o json printed no JSON:\n%s", r.stdout)
			}
			assertNoURLToken(t, "hoist run --once's output", r.stdout+r.stderr, state)
		})
	}
	if got := testenv.GitCLI(t, bare, "show", "main:api.yaml"); !strings.Contains(got, "apps/api:2.0.0") {
		t.Errorf("main was not updated through the URL's token:\n%s", got)
	}

	pw := filepath.Join(t.TempDir(), "hoist.yaml")
	body, err := os.ReadFile(filepath.Join(cfg, "hoist.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, pw, strings.ReplaceAll(string(body), urlToken+"@", "x-access-token:"+urlToken+"@"))
	for _, args := range [][]string{{"validate", pw}, {"run", "--once", "-c", pw}} {
		r := hoist(t, nil, args...)
		if r.code != 2 || !strings.Contains(r.stdout+r.stderr, "carries a password") {
			t.Errorf("hoist %s with a password in the URL: exit %d, want 2 and a refusal\n%s%s", args[0], r.code, r.stdout, r.stderr)
		}
		assertNoURLToken(t, "hoist "+args[0]+"'s refusal", r.stdout+r.stderr, "")
	}
}

// TestGitTokenInURLService runs the service on the same automations: the
// token is in no log line (the batch of a Git repository is keyed by its
// URL, and a failed batch is logged with its key), nor in /status,
// /metrics, hoist status -o json, or the state directory.
func TestGitTokenInURLService(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end service test")
	}
	cfg, bare := tokenURLFleet(t)
	base := refHead(t, bare, "main")
	state := filepath.Join(t.TempDir(), "state")
	addr := freeAddr(t)
	svc := startHoist(t, addr, []string{"HOIST_STATE_DIR=" + state},
		"-c", cfg, "--log-level", "debug", "--startup-spread", "0", "--commit-window", "0")
	waitRef(t, bare, "main", base, 30*time.Second)
	svc.waitLog("batch flush failed", 30*time.Second)
	if !strings.Contains(svc.logs(), "looks like a token") {
		t.Errorf("the service did not warn about the token in the Git URL")
	}

	var seen strings.Builder
	for _, path := range []string{"/status", "/metrics"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d, %v", path, resp.StatusCode, err)
		}
		assertNoURLToken(t, path, string(b), "")
		seen.Write(b)
	}
	if !strings.Contains(seen.String(), "gone.git") {
		t.Errorf("/status does not report the failure of apps/gone:\n%s", seen.String())
	}
	r := hoist(t, nil, "status", "--server", addr, "-o", "json")
	if r.code != 1 || !json.Valid([]byte(r.stdout)) {
		t.Errorf("hoist status: exit %d, want 1 (apps/gone failed) and JSON\n%s%s", r.code, r.stdout, r.stderr)
	}
	assertNoURLToken(t, "hoist status -o json", r.stdout+r.stderr, "")
	svc.stop()
	assertNoURLToken(t, "the service's logs", svc.logs(), state)
}
