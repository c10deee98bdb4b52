package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
)

func TestUpdateEndToEnd(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	base := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	d := reg.PushImage(t, "apps/podinfo", "6.0.0", testenv.ImageOptions{Created: base})
	reg.Tag(t, "apps/podinfo", d, "6.1.0", "6.2.0", "7.0.0")
	d = reg.PushImage(t, "apps/worker", "1.2.3", testenv.ImageOptions{Created: base})
	reg.Tag(t, "apps/worker", d, "1.2.9", "1.3.0", "2.0.0")
	host := reg.Host

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	tree := filepath.Join(dir, "tree")
	writeFile(t, filepath.Join(cfg, "policies.yaml"), fmt.Sprintf(`
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: podinfo, namespace: apps}
spec:
  image: %s/apps/podinfo
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: podinfo, namespace: apps}
spec:
  imageRepositoryRef: {name: podinfo}
  policy:
    semver: {range: '^6'}
`, host))
	deploy := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
  namespace: apps
spec:
  template:
    spec:
      containers:
        - name: app
          # the image follows apps/podinfo
          image: '%[1]s/apps/podinfo:6.0.0' # {"$imagepolicy": "apps:podinfo"}
`, host)
	kustomization := fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\r\nkind: Kustomization\r\nimages:\r\n  - name: podinfo\r\n    newName: %[1]s/apps/podinfo # {\"$imagepolicy\": \"apps:podinfo:name\"}\r\n    newTag: 6.0.0 # {\"$imagepolicy\": \"apps:podinfo:tag\"}\r\n", host)
	worker := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
  annotations:
    keel.sh/policy: minor
spec:
  template:
    spec:
      containers:
      - name: worker
        image: %[1]s/apps/worker:1.2.3
`, host)
	untouched := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {image: nginx:1.0}\n"
	writeFile(t, filepath.Join(tree, "app", "deploy.yaml"), deploy)
	writeFile(t, filepath.Join(tree, "kustomization.yaml"), kustomization)
	writeFile(t, filepath.Join(tree, "worker.yaml"), worker)
	writeFile(t, filepath.Join(tree, "cm.yaml"), untouched)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(tree, "cm.yaml"), old, old); err != nil {
		t.Fatal(err)
	}

	// A dry run writes nothing and shows a diff.
	r := hoist(t, nil, "update", tree, "-c", cfg, "--dry-run")
	if r.code != 0 {
		t.Fatalf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "+          image: '"+host+"/apps/podinfo:6.2.0'") {
		t.Errorf("dry-run diff lacks the new line:\n%s", r.stdout)
	}
	if got := readFile(t, filepath.Join(tree, "app", "deploy.yaml")); got != deploy {
		t.Fatalf("dry run wrote the file")
	}

	r = hoist(t, nil, "update", tree, "-c", cfg, "-o", "json")
	if r.code != 0 {
		t.Fatalf("update: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var out struct {
		Changes []struct {
			File, Old, New, Policy string
			Line                   int
		}
		Errors []json.RawMessage
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(out.Changes) != 3 || len(out.Errors) != 0 {
		t.Errorf("changes %+v, errors %s", out.Changes, out.Errors)
	}

	wantDeploy := strings.Replace(deploy, "podinfo:6.0.0'", "podinfo:6.2.0'", 1)
	wantKust := strings.Replace(kustomization, "newTag: 6.0.0", "newTag: 6.2.0", 1)
	wantWorker := strings.Replace(worker, "worker:1.2.3", "worker:1.3.0", 1)
	for path, want := range map[string]string{"app/deploy.yaml": wantDeploy, "kustomization.yaml": wantKust, "worker.yaml": wantWorker, "cm.yaml": untouched} {
		if diff := cmp.Diff(want, readFile(t, filepath.Join(tree, path))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", path, diff)
		}
	}
	if fi, err := os.Stat(filepath.Join(tree, "cm.yaml")); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("a file without targets was rewritten (mtime %v, want %v)", fi.ModTime(), old)
	}

	// Twice in a row: nothing to change.
	r = hoist(t, nil, "update", tree, "-c", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "nothing to change") {
		t.Errorf("second run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A pin from CI wins over the registry and needs none.
	r = hoist(t, nil, "update", tree, "-c", cfg, "--no-scan", "--set", "apps/podinfo="+host+"/apps/podinfo:6.9.9")
	if r.code != 0 || !strings.Contains(readFile(t, filepath.Join(tree, "app", "deploy.yaml")), "podinfo:6.9.9'") {
		t.Errorf("pin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A suspended ImageRepository (or ImagePolicy) leaves its policies' targets
// as they are: no scan, no "unknown policy", exit 0.
func TestUpdateSuspended(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "apps/podinfo", "6.0.0", testenv.ImageOptions{})
	reg.Tag(t, "apps/podinfo", d, "6.1.0")
	deploy := fmt.Sprintf("image: %s/apps/podinfo:6.0.0 # {\"$imagepolicy\": \"apps:podinfo\"}\n", reg.Host)
	for name, suspended := range map[string]struct{ repo, policy bool }{
		"repository": {repo: true},
		"policy":     {policy: true},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "config", "policies.yaml")
			tree := filepath.Join(dir, "tree")
			writeFile(t, cfg, fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: podinfo, namespace: apps}
spec:
  image: %s/apps/podinfo
  suspend: %t
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: podinfo, namespace: apps}
spec:
  imageRepositoryRef: {name: podinfo}
  suspend: %t
  policy:
    semver: {range: '^6'}
`, reg.Host, suspended.repo, suspended.policy))
			writeFile(t, filepath.Join(tree, "values.yaml"), deploy)
			r := hoist(t, nil, "update", tree, "-c", cfg)
			if r.code != 0 || strings.Contains(r.stdout+r.stderr, "unknown policy") {
				t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if diff := cmp.Diff(deploy, readFile(t, filepath.Join(tree, "values.yaml"))); diff != "" {
				t.Errorf("values.yaml (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUpdateReadsPoliciesInDir: hoist update DIR reads the ImageRepository
// and ImagePolicy documents kept in DIR next to the manifests (a regression
// test for "unknown policy" while DIR held it), merged with -c's, and the
// rest of DIR's YAML (Helm templates, other tools' files, documents that do
// not parse) does not make it fail.
func TestUpdateReadsPoliciesInDir(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "apps/podinfo", "6.0.0", testenv.ImageOptions{})
	reg.Tag(t, "apps/podinfo", d, "6.1.0", "7.0.0")
	d = reg.PushImage(t, "apps/worker", "1.0.0", testenv.ImageOptions{})
	reg.Tag(t, "apps/worker", d, "1.1.0")
	host := reg.Host

	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	cfg := filepath.Join(dir, "config")
	// The worker's policy is in -c, its repository in DIR.
	writeFile(t, filepath.Join(cfg, "worker.yaml"), `apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: worker, namespace: apps}
spec:
  imageRepositoryRef: {name: worker}
  policy: {semver: {range: '^1'}}
`)
	writeFile(t, filepath.Join(tree, "flux", "images.yaml"), fmt.Sprintf(`apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: podinfo, namespace: apps}
spec:
  image: %[1]s/apps/podinfo
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: podinfo, namespace: apps}
spec:
  imageRepositoryRef: {name: podinfo}
  policy: {semver: {range: '^6'}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: worker, namespace: apps}
spec:
  image: %[1]s/apps/worker
`, host))
	writeFile(t, filepath.Join(tree, "flux", "automation.yaml"), `# An automation whose GitRepository is elsewhere: update does not read it.
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: flux-system}
spec:
  sourceRef: {kind: GitRepository, name: flux-system}
  git:
    commit:
      author: {email: fluxcdbot@example.com}
`)
	deploy := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo, namespace: apps}
spec:
  template:
    spec:
      containers:
        - name: app
          image: %[1]s/apps/podinfo:6.0.0 # {"$imagepolicy": "apps:podinfo"}
        - name: worker
          image: %[1]s/apps/worker:1.0.0 # {"$imagepolicy": "apps:worker"}
`, host)
	writeFile(t, filepath.Join(tree, "apps", "deploy.yaml"), deploy)
	// A Helm chart: a template that is not YAML, and one that is, with a
	// Flux ImagePolicy that only means something once rendered.
	writeFile(t, filepath.Join(tree, "chart", "Chart.yaml"), "apiVersion: v2\nname: demo\nversion: 0.1.0\n")
	writeFile(t, filepath.Join(tree, "chart", "templates", "deployment.yaml"), `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  template:
    spec:
      containers:
        - image: {{ .Values.image }}
{{- with .Values.extra }}
{{ toYaml . | indent 8 }}
{{- end }}
`)
	writeFile(t, filepath.Join(tree, "chart", "templates", "policy.yaml"), `apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: "{{ .Release.Name }}", namespace: apps}
spec:
  imageRepositoryRef: {name: podinfo}
  policy: {semver: {range: "{{ .Values.range }}"}}
`)
	// Another tool's file, and one that is not YAML at all.
	writeFile(t, filepath.Join(tree, ".pre-commit-config.yaml"), "repos:\n  - repo: local\n")
	writeFile(t, filepath.Join(tree, "notes.yml"), "key: [unclosed\n\tother: value\n")

	t.Run("missing DIR is bad usage", func(t *testing.T) {
		r := hoist(t, nil, "update", filepath.Join(dir, "nope"), "--no-scan")
		if r.code != 2 || !strings.Contains(r.stderr, "no such file or directory") {
			t.Errorf("exit %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	r := hoist(t, nil, "update", tree, "-c", cfg, "--dry-run", "-o", "json")
	if r.code != 0 {
		t.Fatalf("update: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wantWarning := "hoist: warning: " + filepath.Join(tree, "chart", "templates", "policy.yaml") +
		`:3: metadata.name: skipped this file's ImageRepository and ImagePolicy documents: "{{ .Release.Name }}": a lowercase RFC 1123 subdomain`
	if !strings.HasPrefix(r.stderr, wantWarning) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, wantWarning)
	}
	var out struct {
		Changes []struct{ New, Policy string }
		Errors  []json.RawMessage
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	want := []struct{ New, Policy string }{
		{New: host + "/apps/podinfo:6.1.0", Policy: "apps:podinfo"},
		{New: host + "/apps/worker:1.1.0", Policy: "apps:worker"},
	}
	if diff := cmp.Diff(want, out.Changes); diff != "" || len(out.Errors) != 0 {
		t.Errorf("changes (-want +got):\n%s\nerrors: %s", diff, out.Errors)
	}

	// DIR given as -c too: its documents are read once, not reported as
	// defined twice; and -c's own errors still fail.
	r = hoist(t, nil, "update", tree, "-c", cfg, "-c", filepath.Join(tree, "flux", "images.yaml"))
	if r.code != 0 || !strings.Contains(readFile(t, filepath.Join(tree, "apps", "deploy.yaml")), "podinfo:6.1.0") {
		t.Errorf("update with -c DIR: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = hoist(t, nil, "update", tree, "-c", filepath.Join(tree, "chart", "templates", "policy.yaml"))
	if r.code != 2 || !strings.Contains(r.stderr, "spec.policy.semver.range") {
		t.Errorf("update with an invalid -c: exit %d, want 2\n%s%s", r.code, r.stdout, r.stderr)
	}
}
