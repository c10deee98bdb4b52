package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/config"
)

func TestLoadOnto(t *testing.T) {
	base, err := config.Parse("base.yaml", []byte("apiVersion: hoist.dev/v1alpha1\nkind: ImageRepository\nmetadata: {name: app, namespace: apps}\nspec: {image: ghcr.io/a/app}\n"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("policy.yaml", "apiVersion: hoist.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: app, namespace: apps}\nspec:\n  imageRepositoryRef: {name: app}\n  policy: {semver: {range: '^1'}}\n")
	set, err := config.LoadOnto(base, dir)
	if err != nil {
		t.Fatalf("a policy naming a repository of base: %v", err)
	}
	p := set.Policy("apps", "app")
	if p == nil || p.Repository == nil || p.Repository.Spec.Image != "ghcr.io/a/app" || p.Compiled == nil {
		t.Fatalf("policy not resolved against base: %+v", p)
	}
	if base.Policy("apps", "app") != nil || len(base.Policies) != 0 {
		t.Errorf("base was modified")
	}

	write("dup.yaml", "apiVersion: hoist.dev/v1alpha1\nkind: ImageRepository\nmetadata: {name: app, namespace: apps}\nspec: {image: ghcr.io/a/other}\n")
	_, err = config.LoadOnto(base, dir)
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "base.yaml:1") {
		t.Errorf("redefining an object of base: err = %v, want one naming base.yaml:1", err)
	}
}

// TestLoadOntoKeepsCompiledPolicies: loading a Git repository's documents
// onto the configuration (each automation run does) reuses the compiled
// rules of the configuration's policies instead of compiling every one
// again, and a policy of the repository that names a repository of base is
// compiled.
func TestLoadOntoKeepsCompiledPolicies(t *testing.T) {
	base, err := config.Parse("base.yaml", []byte(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app, namespace: apps}
spec: {image: ghcr.io/a/app}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: '^1'}}
`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "own.yaml"), []byte("apiVersion: hoist.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: own, namespace: apps}\nspec:\n  imageRepositoryRef: {name: app}\n  policy: {semver: {range: '^2'}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := config.LoadOnto(base, dir)
	if err != nil {
		t.Fatal(err)
	}
	was, got := base.Policy("apps", "app"), set.Policy("apps", "app")
	if got == was || got.Compiled != was.Compiled {
		t.Errorf("the policy of base: got copy %p with rule %p, want a copy with base's rule %p", got, got.Compiled, was.Compiled)
	}
	if got.Repository != set.Repository("apps", "app") {
		t.Errorf("the policy of base names %p, want the copy of its repository %p", got.Repository, set.Repository("apps", "app"))
	}
	if own := set.Policy("apps", "own"); own == nil || own.Compiled == nil || own.Repository != set.Repository("apps", "app") {
		t.Errorf("the repository's own policy is not resolved: %+v", own)
	}
}

// TestLoadOntoFSManifestsOnly: a Git repository whose update path holds
// manifests only (no document of hoist's) gives the configuration itself,
// without copying it: each automation run loads its repository's documents,
// and a copy costs every object of the configuration (10,000 policies: half
// of the service's CPU at start-up). A file that does not parse still
// fails the load.
func TestLoadOntoFSManifestsOnly(t *testing.T) {
	base, err := config.Parse("base.yaml", []byte("apiVersion: hoist.dev/v1alpha1\nkind: ImageRepository\nmetadata: {name: app, namespace: apps}\nspec: {image: ghcr.io/a/app}\n"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: ghcr.io/a/app:1.0.0 # {\"$imagepolicy\": \"apps:app\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := config.LoadOntoFS(base, os.DirFS(dir), ".")
	if err != nil {
		t.Fatal(err)
	}
	if set != base {
		t.Errorf("manifests only: got a copy of the configuration, want the configuration itself")
	}

	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("a: [b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.LoadOntoFS(base, os.DirFS(dir), "."); !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "bad.yaml") {
		t.Errorf("a file that does not parse: err = %v, want one naming bad.yaml", err)
	}
}

// TestLoadOntoFSSkipsArgoCD: the Argo CD Applications of a repository's
// update path (an app-of-apps repository) describe automations of their
// own; an automation writing to that repository must not fail on them,
// such as on one with Image Updater's default write-back method.
func TestLoadOntoFSSkipsArgoCD(t *testing.T) {
	base, err := config.Parse("base.yaml", []byte("apiVersion: hoist.dev/v1alpha1\nkind: ImageRepository\nmetadata: {name: app, namespace: apps}\nspec: {image: ghcr.io/a/app}\n"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	app := "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: web\n  annotations:\n    argocd-image-updater.argoproj.io/image-list: web=ghcr.io/a/web\nspec:\n  source: {repoURL: https://git.example.com/r.git, targetRevision: main, path: web}\n"
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(app), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := config.LoadOntoFS(base, os.DirFS(dir), ".")
	if err != nil {
		t.Fatal(err)
	}
	if set != base {
		t.Errorf("Applications only: got a copy of the configuration, want the configuration itself")
	}
}
