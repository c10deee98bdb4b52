package integration

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// keptJSON is a change kept back as hoist run -o json prints it.
type keptJSON struct {
	File    string `json:"file"`
	Old     string `json:"old"`
	New     string `json:"new"`
	Policy  string `json:"policy"`
	Reason  string `json:"reason"`
	Written string `json:"written"`
}

type runKeptJSON struct {
	Automations []struct {
		Pushed  bool
		Changes []runChangeJSON
		Kept    []keptJSON
	}
}

// holdFleet is a repository with one Deployment per way of holding a value,
// and a policy document per policy, and the configuration of an automation
// that pushes to main.
func holdFleet(t *testing.T, regHost string, policies string) (bare, cfg, secrets string, env []string) {
	t.Helper()
	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{Username: "hoist", Password: "pw"})
	bare = gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
		"apps/free.yaml":   fmt.Sprintf("kind: Deployment\nmetadata: {name: free}\nspec:\n  image: %s/apps/web:1.0.0 # {\"$imagepolicy\": \"apps:web\"}\n", regHost),
		"apps/marker.yaml": fmt.Sprintf("kind: Deployment\nmetadata: {name: marker}\nspec:\n  image: %s/apps/web:1.0.0 # {\"$imagepolicy\": \"apps:web\", \"hold\": true}\n", regHost),
		"apps/annotated.yaml": fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: annotated
  annotations: {hoist.dev/hold: "true", hoist.dev/policy: "semver:^1"}
spec:
  template:
    spec:
      containers:
        - name: app
          image: %s/apps/web:1.0.0
`, regHost),
		"apps/held.yaml":   fmt.Sprintf("kind: Deployment\nmetadata: {name: held}\nspec:\n  image: %s/apps/api:1.0.0 # {\"$imagepolicy\": \"apps:api\"}\n", regHost),
		"apps/policy.yaml": policies,
	})
	dir := t.TempDir()
	cfg = filepath.Join(dir, "config")
	secrets = filepath.Join(dir, "secrets")
	writeFile(t, filepath.Join(secrets, "fleet-auth", "username"), "hoist")
	writeFile(t, filepath.Join(secrets, "fleet-auth", "password"), "pw")
	writeFile(t, filepath.Join(cfg, "automation.yaml"), fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: prod, namespace: apps}
spec:
  git:
    url: %s
    secretRef: {name: fleet-auth}
    checkout: {ref: {branch: main}}
    commit: {author: {email: bot@example.com}}
  update: {path: ./apps}
`, gitSrv.RepoURL("fleet.git")))
	env = []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state")}
	return bare, cfg, secrets, env
}

func runKept(t *testing.T, env []string, cfg, secrets string) runKeptJSON {
	t.Helper()
	r := hoist(t, env, "run", "--once", "-c", cfg, "--secrets-dir", secrets, "-o", "json")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var out runKeptJSON
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Automations) != 1 {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	return out
}

// TestRunHolds: a marker's "hold", a workload's hoist.dev/hold annotation
// and a policy's spec.hold keep their values, and hoist run reports them
// held, in JSON and in text; the free target is updated.
func TestRunHolds(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "apps/web", "1.0.0", testenv.ImageOptions{})
	reg.Tag(t, "apps/web", d, "1.1.0")
	da := reg.PushImage(t, "apps/api", "1.0.0", testenv.ImageOptions{})
	reg.Tag(t, "apps/api", da, "1.2.0")
	policies := semverPolicy(reg.Host, "web", "") + semverPolicy(reg.Host, "api", "hold: true")
	bare, cfg, secrets, env := holdFleet(t, reg.Host, policies)
	out := runKept(t, env, cfg, secrets)
	a := out.Automations[0]
	if len(a.Changes) != 1 || a.Changes[0].File != "apps/free.yaml" {
		t.Fatalf("changes: %+v", a.Changes)
	}
	web := func(tag string) string { return reg.Host + "/apps/web:" + tag }
	want := []keptJSON{
		{File: "apps/annotated.yaml", Old: web("1.0.0"), New: web("1.1.0"), Policy: "inline:" + web("1.0.0") + "#semver:^1", Reason: "hold"},
		{File: "apps/held.yaml", Old: reg.Host + "/apps/api:1.0.0", New: reg.Host + "/apps/api:1.2.0", Policy: "apps:api", Reason: "hold"},
		{File: "apps/marker.yaml", Old: web("1.0.0"), New: web("1.1.0"), Policy: "apps:web", Reason: "hold"},
	}
	if diff := cmp.Diff(want, a.Kept); diff != "" {
		t.Errorf("kept (-want +got):\n%s", diff)
	}
	for _, f := range []string{"apps/marker.yaml", "apps/annotated.yaml", "apps/held.yaml"} {
		if got := testenv.GitCLI(t, bare, "show", "main:"+f); !strings.Contains(got, ":1.0.0") {
			t.Errorf("%s changed:\n%s", f, got)
		}
	}
	// The text output says held, each on its line.
	r := hoist(t, env, "run", "--once", "-c", cfg, "--secrets-dir", secrets)
	if r.code != 0 || !strings.Contains(r.stdout, "apps/marker.yaml:4: kept "+web("1.0.0")+": "+web("1.1.0")+" is held (apps:web)") {
		t.Errorf("text: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestRunRespectsManualChanges: hoist writes 1.1.0; a person rolls back to
// 1.0.0 by hand; with respectManualChanges the next runs keep 1.0.0 (and
// say so) until the policy selects 1.2.0, newer than both. Without it, the
// downgrade guard alone would write 1.1.0 back.
func TestRunRespectsManualChanges(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "apps/web", "1.0.0", testenv.ImageOptions{})
	reg.Tag(t, "apps/web", d, "1.1.0")
	reg.PushImage(t, "apps/api", "1.0.0", testenv.ImageOptions{})
	policies := semverPolicy(reg.Host, "web", "respectManualChanges: true") + semverPolicy(reg.Host, "api", "")
	bare, cfg, secrets, env := holdFleet(t, reg.Host, policies)
	web := func(tag string) string { return reg.Host + "/apps/web:" + tag }
	free := func(tag string) string {
		return fmt.Sprintf("kind: Deployment\nmetadata: {name: free}\nspec:\n  image: %s # {\"$imagepolicy\": \"apps:web\"}\n", web(tag))
	}

	out := runKept(t, env, cfg, secrets)
	if got := testenv.GitCLI(t, bare, "show", "main:apps/free.yaml"); got != free("1.1.0") {
		t.Fatalf("first run did not write 1.1.0:\n%s\n%+v", got, out)
	}
	// A person rolls back by hand.
	testenv.GitCommitFiles(t, bare, "main", "roll back web", map[string]string{"apps/free.yaml": free("1.0.0")})
	head := testenv.GitHead(t, bare, "main")

	out = runKept(t, env, cfg, secrets)
	want := []keptJSON{{File: "apps/free.yaml", Old: web("1.0.0"), New: web("1.1.0"), Policy: "apps:web", Reason: "manual", Written: web("1.1.0")}}
	var got []keptJSON
	for _, k := range out.Automations[0].Kept {
		if k.Reason != "hold" {
			got = append(got, k)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kept after the rollback (-want +got):\n%s", diff)
	}
	if testenv.GitHead(t, bare, "main") != head {
		t.Errorf("hoist wrote over the manual rollback:\n%s", testenv.GitCLI(t, bare, "show", "main:apps/free.yaml"))
	}
	r := hoist(t, env, "run", "--once", "-c", cfg, "--secrets-dir", secrets)
	if r.code != 0 || !strings.Contains(r.stdout, "kept "+web("1.0.0")+": "+web("1.1.0")+" is held after a manual change (hoist wrote "+web("1.1.0")+")") {
		t.Errorf("text: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// A release newer than both ends the hold.
	reg.Tag(t, "apps/web", d, "1.2.0")
	runKept(t, env, cfg, secrets)
	if got := testenv.GitCLI(t, bare, "show", "main:apps/free.yaml"); got != free("1.2.0") {
		t.Errorf("1.2.0 was not written after the hold:\n%s", got)
	}
}

// TestRunDowngradeGuard: hoist run keeps a value newer than the policy
// selects (a person moved it ahead) and reports it as kept, like hoist
// update; allowDowngrade writes the older version.
func TestRunDowngradeGuard(t *testing.T) {
	for name, allow := range map[string]bool{"guarded": false, "allowDowngrade": true} {
		t.Run(name, func(t *testing.T) {
			reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
			reg.PushImage(t, "apps/api", "1.0.0", testenv.ImageOptions{})
			reg.PushImage(t, "apps/web", "1.0.0", testenv.ImageOptions{})
			policies := semverPolicy(reg.Host, "api", fmt.Sprintf("allowDowngrade: %t", allow)) + semverPolicy(reg.Host, "web", "")
			bare, cfg, secrets, env := holdFleet(t, reg.Host, policies)
			// Git has 1.5.0, which the registry does not (yet) list.
			testenv.GitCommitFiles(t, bare, "main", "ahead", map[string]string{
				"apps/held.yaml": fmt.Sprintf("kind: Deployment\nmetadata: {name: held}\nspec:\n  image: %s/apps/api:1.5.0 # {\"$imagepolicy\": \"apps:api\"}\n", reg.Host),
			})
			out := runKept(t, env, cfg, secrets)
			content := testenv.GitCLI(t, bare, "show", "main:apps/held.yaml")
			var kept []keptJSON
			for _, k := range out.Automations[0].Kept {
				if k.Reason == "downgrade" {
					kept = append(kept, k)
				}
			}
			if allow {
				if !strings.Contains(content, "api:1.0.0") || len(kept) != 0 {
					t.Errorf("allowDowngrade: file\n%s\nkept %+v", content, kept)
				}
				return
			}
			want := []keptJSON{{File: "apps/held.yaml", Old: reg.Host + "/apps/api:1.5.0", New: reg.Host + "/apps/api:1.0.0", Policy: "apps:api", Reason: "downgrade"}}
			if diff := cmp.Diff(want, kept); diff != "" || !strings.Contains(content, "api:1.5.0") {
				t.Errorf("kept (-want +got):\n%s\nfile:\n%s", diff, content)
			}
		})
	}
}

// semverPolicy is an ImageRepository NAME of HOST/apps/NAME and an
// ImagePolicy NAME following it under semver ^1, in namespace apps, with
// extra (one line of the policy's spec, or "").
func semverPolicy(host, name, extra string) string {
	doc := fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: %[2]s, namespace: apps}
spec: {image: %[1]s/apps/%[2]s}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: %[2]s, namespace: apps}
spec:
  imageRepositoryRef: {name: %[2]s}
  policy: {semver: {range: '^1'}}
`, host, name)
	if extra != "" {
		doc += "  " + extra + "\n"
	}
	return doc + "---\n"
}
