package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// symlinkFleet makes a registry with apps/podinfo 6.0.0 and 6.1.0, a Git
// server with an empty repository fleet.git, and the configuration of an
// automation of it with update.path, in dir/config. It returns the bare
// repository, the registry host and the run's arguments.
func symlinkFleet(t *testing.T, dir, updatePath string) (bare, host string, args []string) {
	t.Helper()
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "apps/podinfo", "6.0.0", testenv.ImageOptions{Created: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)})
	reg.Tag(t, "apps/podinfo", d, "6.1.0")
	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{})
	bare = gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	cfg := filepath.Join(dir, "config")
	writeFile(t, filepath.Join(cfg, "automation.yaml"), fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: apps}
spec:
  url: %s
  ref: {branch: main}
---
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
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageUpdateAutomation
metadata: {name: prod, namespace: apps}
spec:
  sourceRef: {kind: GitRepository, name: fleet}
  git:
    checkout: {ref: {branch: main}}
    commit:
      author: {name: hoist-bot, email: bot@example.com}
    push: {branch: main}
  update: {path: %s, strategy: Setters}
`, gitSrv.RepoURL("fleet.git"), reg.Host, updatePath))
	return bare, reg.Host, []string{"run", "--once", "-c", cfg}
}

// upToRoot is a relative link prefix that climbs from any directory to
// "/": ".." at the root stays there.
var upToRoot = strings.Repeat("../", 64)

// TestRunOnceRefusesLinkOutOfClone: a repository that commits a relative
// link leaving the clone, and an automation whose update.path is that
// link, makes hoist run --once fail naming the path; the marked file the
// link leads to is left as it was, and nothing is pushed.
func TestRunOnceRefusesLinkOutOfClone(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "srv", "other")
	marked := func(host string) string {
		return fmt.Sprintf("image: %s/apps/podinfo:6.0.0 # {\"$imagepolicy\": \"apps:podinfo\"}\n", host)
	}
	for name, tc := range map[string]struct {
		updatePath string
		files      map[string]string
		name       string // the path the error names
	}{
		"the update path is the link": {
			updatePath: "./apps",
			files:      map[string]string{"apps": "!symlink " + upToRoot + outside[1:]},
			name:       "apps",
		},
		"a parent of the update path is the link": {
			updatePath: "./clusters/prod",
			files:      map[string]string{"clusters": "!symlink " + upToRoot + filepath.Dir(outside)[1:]},
			name:       "clusters",
		},
		"a directory under the update path is the link": {
			updatePath: "./apps",
			files:      map[string]string{"apps/ok.yaml": "a: b\n", "apps/prod": "!symlink " + upToRoot + filepath.Dir(outside)[1:] + "/other"},
			name:       "prod",
		},
	} {
		t.Run(name, func(t *testing.T) {
			bare, host, args := symlinkFleet(t, dir, tc.updatePath)
			if err := os.RemoveAll(filepath.Join(dir, "srv")); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(outside, "deploy.yaml"), marked(host))
			if tc.updatePath == "./clusters/prod" {
				writeFile(t, filepath.Join(filepath.Dir(outside), "prod", "deploy.yaml"), marked(host))
			}
			head := testenv.GitCommitFiles(t, bare, "main", "a link out of the clone", tc.files)

			for _, output := range []string{"text", "json"} {
				r := hoist(t, []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state-"+output)}, append(args, "-o", output)...)
				if r.code == 0 {
					t.Fatalf("-o %s: exit 0\n%s\n%s", output, r.stdout, r.stderr)
				}
				all := r.stdout + r.stderr
				if !strings.Contains(all, tc.name) || !strings.Contains(all, "outside the root") {
					t.Errorf("-o %s: the output does not name %q as leading outside:\n%s\n%s", output, tc.name, r.stdout, r.stderr)
				}
			}
			for _, p := range []string{filepath.Join(outside, "deploy.yaml"), filepath.Join(filepath.Dir(outside), "prod", "deploy.yaml")} {
				if b, err := os.ReadFile(p); err == nil && string(b) != marked(host) {
					t.Errorf("%s outside the clone was rewritten:\n%s", p, b)
				}
			}
			if got := testenv.GitHead(t, bare, "main"); got != head {
				t.Errorf("main moved from %s to %s", head, got)
			}
		})
	}
}

// TestRunOnceFollowsLinkInsideClone: an update.path that is a link to
// another directory of the clone is followed, and the file there is
// updated and pushed under its own path.
func TestRunOnceFollowsLinkInsideClone(t *testing.T) {
	dir := t.TempDir()
	bare, host, args := symlinkFleet(t, dir, "./current")
	testenv.GitCommitFiles(t, bare, "main", "current points at prod", map[string]string{
		"current":                    "!symlink clusters/prod",
		"clusters/prod/podinfo.yaml": fmt.Sprintf("image: %s/apps/podinfo:6.0.0 # {\"$imagepolicy\": \"apps:podinfo\"}\n", host),
	})
	r := hoist(t, []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state")}, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	got := testenv.GitCLI(t, bare, "show", "main:clusters/prod/podinfo.yaml")
	if !strings.Contains(got, "podinfo:6.1.0") {
		t.Errorf("clusters/prod/podinfo.yaml on main:\n%s", got)
	}
}

// TestRunOnceDanglingLinkAndKustomization: a dangling link with a YAML
// name is skipped with one warning in the text and JSON output and the
// log, and does not fail the run; a file named Kustomization is updated.
func TestRunOnceDanglingLinkAndKustomization(t *testing.T) {
	dir := t.TempDir()
	bare, host, args := symlinkFleet(t, dir, "./apps")
	testenv.GitCommitFiles(t, bare, "main", "a dangling link", map[string]string{
		"apps/test.yaml": "!symlink testing.yaml",
		"apps/Kustomization": fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
- name: podinfo
  newName: %s/apps/podinfo
  newTag: 6.0.0 # {"$imagepolicy": "apps:podinfo:tag"}
`, host),
	})
	r := hoist(t, []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state")}, append(args, "--dry-run", "-o", "json")...)
	if r.code != 0 {
		t.Fatalf("json: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var out struct {
		Automations []struct {
			Changes  []struct{ File, Old, New string }
			Warnings []struct{ File, Warning string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(out.Automations) != 1 || len(out.Automations[0].Warnings) != 1 || out.Automations[0].Warnings[0].File != "test.yaml" ||
		!strings.Contains(out.Automations[0].Warnings[0].Warning, "dangling") {
		t.Errorf("warnings: %s", r.stdout)
	}
	if strings.Count(r.stderr, "dangling") != 1 || !strings.Contains(r.stderr, "apps/test.yaml") {
		t.Errorf("the log does not warn once of apps/test.yaml:\n%s", r.stderr)
	}
	if len(out.Automations[0].Changes) != 1 || out.Automations[0].Changes[0].File != "apps/Kustomization" || out.Automations[0].Changes[0].New != "6.1.0" {
		t.Errorf("changes: %s", r.stdout)
	}

	r = hoist(t, []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state")}, args...)
	if r.code != 0 {
		t.Fatalf("text: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "warning: test.yaml: dangling symbolic link skipped") {
		t.Errorf("text output has no warning:\n%s", r.stdout)
	}
	if got := testenv.GitCLI(t, bare, "show", "main:apps/Kustomization"); !strings.Contains(got, "newTag: 6.1.0") {
		t.Errorf("apps/Kustomization on main:\n%s", got)
	}
}

// TestUpdateRefusesLinkOutOfTree: hoist update DIR with a committed link
// to a directory outside DIR exits 1 naming the link and leaves the file
// outside alone; a dangling link is a warning; Kustomization is read
// without --file.
func TestUpdateRefusesLinkOutOfTree(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	outside := filepath.Join(dir, "srv", "other")
	marked := "image: ghcr.io/example/app:1.0.0 # {\"$imagepolicy\": \"apps:app\"}\n"
	writeFile(t, filepath.Join(outside, "deploy.yaml"), marked)
	writeFile(t, filepath.Join(tree, "Kustomization"), "images:\n- name: app\n  newTag: 1.0.0 # {\"$imagepolicy\": \"apps:app:tag\"}\n")
	if err := os.Symlink(upToRoot+outside[1:], filepath.Join(tree, "apps")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("testing.yaml", filepath.Join(tree, "test.yaml")); err != nil {
		t.Fatal(err)
	}
	r := hoist(t, nil, "update", tree, "--set", "apps/app=ghcr.io/example/app:1.1.0", "-o", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var out struct {
		Changes  []struct{ File, New string }
		Errors   []struct{ File, Error string }
		Warnings []struct{ File, Warning string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(out.Errors) != 1 || out.Errors[0].File != "apps" || !strings.Contains(out.Errors[0].Error, "outside the root") {
		t.Errorf("errors: %s", r.stdout)
	}
	if len(out.Warnings) != 1 || out.Warnings[0].File != "test.yaml" {
		t.Errorf("warnings: %s", r.stdout)
	}
	if len(out.Changes) != 1 || out.Changes[0].File != "Kustomization" || out.Changes[0].New != "1.1.0" {
		t.Errorf("changes: %s", r.stdout)
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "deploy.yaml")); string(b) != marked {
		t.Errorf("the file outside the tree was rewritten:\n%s", b)
	}
}
