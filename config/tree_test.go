package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/config"
)

// TestLoadWithTreePolicies: a tree's ImageRepository and ImagePolicy
// documents are read next to the configuration's; a tree file that cannot
// be used is skipped (with a warning when it holds hoist's or Flux's
// documents), and the others still resolve across files.
func TestLoadWithTreePolicies(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("config/policy.yaml", "apiVersion: hoist.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: web}\nspec:\n  imageRepositoryRef: {name: web}\n  policy: {semver: {range: '^1'}}\n")
	write("tree/a-policy.yaml", "apiVersion: hoist.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: app}\nspec:\n  imageRepositoryRef: {name: app}\n  policy: {semver: {range: '^1'}}\n")
	write("tree/b-repos.yaml", "apiVersion: hoist.dev/v1alpha1\nkind: ImageRepository\nmetadata: {name: app}\nspec: {image: ghcr.io/example/app}\n---\napiVersion: hoist.dev/v1alpha1\nkind: ImageRepository\nmetadata: {name: web}\nspec: {image: ghcr.io/example/web}\n")
	write("tree/c-broken.yaml", "apiVersion: hoist.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: other}\nspec:\n  imageRepositoryRef: {name: missing}\n  policy: {semver: {range: '^1'}}\n")
	write("tree/d-template.yaml", "kind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n")
	write("tree/e-automation.yaml", "apiVersion: hoist.dev/v1alpha1\nkind: ImageUpdateAutomation\nmetadata: {name: fleet}\nspec:\n  sourceRef: {name: elsewhere}\n")

	set, err := config.LoadWithTreePolicies([]string{filepath.Join(dir, "config")}, filepath.Join(dir, "tree"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range set.Policies {
		got = append(got, p.Name+" → "+p.Repository.Spec.Image)
	}
	if diff := cmp.Diff([]string{"web → ghcr.io/example/web", "app → ghcr.io/example/app"}, got); diff != "" {
		t.Errorf("policies (-want +got):\n%s", diff)
	}
	if len(set.Automations) != 0 {
		t.Errorf("read %d automations from the tree, want none", len(set.Automations))
	}
	var warnings []string
	for _, w := range set.Warnings {
		warnings = append(warnings, w.String())
	}
	want := []string{filepath.Join(dir, "tree", "c-broken.yaml") + `:5: spec.imageRepositoryRef.name: skipped this file's ImageRepository and ImagePolicy documents: no ImageRepository "missing" in namespace "default"`}
	if diff := cmp.Diff(want, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}

	// An error in the configuration itself is returned.
	write("config/bad.yaml", "apiVersion: hoist.dev/v1alpha1\nkind: ImageRepository\nmetadata: {name: bad}\nspec: {}\n")
	if _, err := config.LoadWithTreePolicies([]string{filepath.Join(dir, "config")}, filepath.Join(dir, "tree")); err == nil {
		t.Error("an invalid configuration loaded")
	}
}
