package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestRunOnceEndToEnd runs the whole loop: a real registry, a real Git
// server (git http-backend behind basic auth), hoist run --once.
func TestRunOnceEndToEnd(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "apps/podinfo", "6.0.0", testenv.ImageOptions{Created: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)})
	reg.Tag(t, "apps/podinfo", d, "6.1.0")

	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{Username: "hoist", Password: "s3cret-pw"})
	bare := gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	deploy := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo, namespace: apps}
spec:
  template:
    spec:
      containers:
        - name: app
          image: %s/apps/podinfo:6.0.0 # {"$imagepolicy": "apps:podinfo"}
`, reg.Host)
	testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
		"clusters/prod/podinfo.yaml": deploy,
		"clusters/prod/policies.yaml": `apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: podinfo, namespace: apps}
spec:
  imageRepositoryRef: {name: podinfo}
  policy:
    semver: {range: '^6'}
`,
	})

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	secrets := filepath.Join(dir, "secrets")
	writeFile(t, filepath.Join(secrets, "fleet-auth", "username"), "hoist")
	writeFile(t, filepath.Join(secrets, "fleet-auth", "password"), "s3cret-pw")
	writeFile(t, filepath.Join(cfg, "automation.yaml"), fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: apps}
spec:
  url: %s
  ref: {branch: main}
  secretRef: {name: fleet-auth}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: podinfo, namespace: apps}
spec:
  image: %s/apps/podinfo
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageUpdateAutomation
metadata: {name: prod, namespace: apps}
spec:
  interval: 5m
  sourceRef: {kind: GitRepository, name: fleet}
  git:
    checkout: {ref: {branch: main}}
    commit:
      author: {name: hoist-bot, email: bot@example.com}
      messageTemplate: |
        Update images of {{ .AutomationObject }}
        {{ range .Changed.Changes }}
        - {{ .OldValue }} -> {{ .NewValue }}
        {{ end }}
    push: {branch: main}
  update: {path: ./clusters/prod, strategy: Setters}
`, gitSrv.RepoURL("fleet.git"), reg.Host))

	state := filepath.Join(dir, "state")
	env := []string{"HOIST_STATE_DIR=" + state}
	r := hoist(t, env, "run", "--once", "-c", cfg, "--secrets-dir", secrets, "-o", "json")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var out struct {
		Automations []struct {
			Commit, Branch string
			Pushed         bool
			Changes        []runChangeJSON
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(out.Automations) != 1 || !out.Automations[0].Pushed || len(out.Automations[0].Changes) != 1 {
		t.Fatalf("unexpected result: %s", r.stdout)
	}
	// The change as planned, the column included, with its path from the
	// repository's root.
	wantChange := runChangeJSON{
		File: "clusters/prod/podinfo.yaml", Line: 9, Column: 18,
		Old: reg.Host + "/apps/podinfo:6.0.0", New: reg.Host + "/apps/podinfo:6.1.0",
		Policy: "apps:podinfo", Setter: "apps:podinfo", Field: "spec.template.spec.containers[name=app].image",
		Object: map[string]string{"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "apps", "name": "podinfo"},
	}
	if diff := cmp.Diff(wantChange, out.Automations[0].Changes[0]); diff != "" {
		t.Errorf("change (-want +got):\n%s", diff)
	}
	head := testenv.GitHead(t, bare, "main")
	if head != out.Automations[0].Commit {
		t.Errorf("remote main is %s, hoist reported %s", head, out.Automations[0].Commit)
	}
	msg := testenv.GitCLI(t, bare, "log", "-1", "--format=%an <%ae>%n%B", "main")
	if !strings.Contains(msg, "hoist-bot <bot@example.com>") || !strings.Contains(msg, "Update images of apps/prod") || !strings.Contains(msg, "apps/podinfo:6.1.0") {
		t.Errorf("commit message:\n%s", msg)
	}
	if strings.Contains(msg, "s3cret-pw") {
		t.Errorf("the password leaked into the commit")
	}
	got := testenv.GitCLI(t, bare, "show", "main:clusters/prod/podinfo.yaml")
	if want := strings.Replace(deploy, "podinfo:6.0.0", "podinfo:6.1.0", 1); got != want {
		t.Errorf("file on main:\n%s\nwant:\n%s", got, want)
	}

	// A second run with nothing new does nothing and says so.
	r = hoist(t, env, "run", "--once", "-c", cfg, "--secrets-dir", secrets)
	if r.code != 0 || !strings.Contains(r.stdout, "nothing to do") {
		t.Errorf("second run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if testenv.GitHead(t, bare, "main") != head {
		t.Errorf("second run moved main")
	}

	// A newer tag, and another writer's commit in between: both survive.
	reg.Tag(t, "apps/podinfo", d, "6.2.0")
	other := testenv.GitCommitFiles(t, bare, "main", "someone else", map[string]string{"README.md": "hello\n"})
	r = hoist(t, env, "run", "--once", "-c", cfg, "--secrets-dir", secrets)
	if r.code != 0 || !strings.Contains(r.stdout, "6.2.0") {
		t.Fatalf("third run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	parent := strings.TrimSpace(testenv.GitCLI(t, bare, "rev-parse", "main^"))
	if parent != other {
		t.Errorf("hoist's commit is not on top of the other writer's: parent %s, want %s", parent, other)
	}
}

// runChangeJSON is a change as hoist run -o json prints it.
type runChangeJSON struct {
	File   string            `json:"file"`
	Line   int               `json:"line"`
	Column int               `json:"column"`
	Old    string            `json:"old"`
	New    string            `json:"new"`
	Policy string            `json:"policy"`
	Setter string            `json:"setter"`
	Object map[string]string `json:"object"`
	Field  string            `json:"field"`
}
