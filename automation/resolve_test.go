package automation

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/writeback/git"
)

// TestResolveGit finds where an automation writes: the GitRepository's URL
// and branch (also from Flux's full reference name), overridden by the
// automation's own spec.git, and a clear error where no branch can be
// pushed to.
func TestResolveGit(t *testing.T) {
	tests := map[string]struct {
		repoRef, checkout string // YAML of the GitRepository's spec.ref and the automation's spec.git.checkout.ref
		want              Target
		err               string
	}{
		"branch":               {repoRef: "{branch: main}", want: Target{URL: "https://git.example.com/fleet.git", Branch: "main", Timeout: config.DefaultTimeout}},
		"full reference name":  {repoRef: "{name: refs/heads/release}", want: Target{URL: "https://git.example.com/fleet.git", Branch: "release", Timeout: config.DefaultTimeout}},
		"checkout overrides":   {repoRef: "{branch: main}", checkout: "{branch: staging}", want: Target{URL: "https://git.example.com/fleet.git", Branch: "staging", Timeout: config.DefaultTimeout}},
		"checkout by its name": {repoRef: "{tag: v1.0.0}", checkout: "{name: refs/heads/main}", want: Target{URL: "https://git.example.com/fleet.git", Branch: "main", Timeout: config.DefaultTimeout}},
		"a tag only":           {repoRef: "{tag: v1.0.0}", err: "a tag, semver or commit cannot be pushed to"},
		"a tag by its name":    {repoRef: "{name: refs/tags/v1.0.0}", err: "no branch to check out"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			gitSpec := ""
			if tc.checkout != "" {
				gitSpec = fmt.Sprintf("  git:\n    checkout: {ref: %s}\n    commit: {author: {email: hoist@example.com}}\n", tc.checkout)
			} else {
				gitSpec = "  git:\n    commit: {author: {email: hoist@example.com}}\n"
			}
			set, err := config.Parse("hoist.yaml", []byte(fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet}
spec: {url: https://git.example.com/fleet.git, ref: %s}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageUpdateAutomation
metadata: {name: fleet}
spec:
  sourceRef: {kind: GitRepository, name: fleet}
%s`, tc.repoRef, gitSpec)))
			if err != nil {
				t.Fatal(err)
			}
			got, err := resolveGit(set.Automations[0])
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("resolveGit: %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(git.RemoteURL{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestGitKeyRedacted keys work on a Git repository by its URL without
// credentials: the key is logged (batch flush failed, batch dropped at
// shutdown), so a token written as the URL's user name must not be in it.
func TestGitKeyRedacted(t *testing.T) {
	tests := map[string]struct{ url, want string }{
		"token as user name": {"https://ghp_0123456789abcdefghijAB@github.com/org/fleet.git", "https://github.com/org/fleet.git#main"},
		"ssh login":          {"ssh://git@github.com/org/fleet.git", "ssh://git@github.com/org/fleet.git#main"},
		"scp-like":           {"git@github.com:org/fleet.git", "git@github.com:org/fleet.git#main"},
		"plain":              {"https://github.com/org/fleet.git", "https://github.com/org/fleet.git#main"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			set, err := config.Parse("hoist.yaml", []byte(fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: apps}
spec:
  git:
    url: %s
    checkout: {ref: {branch: main}}
    commit: {author: {email: hoist@example.com}}
`, tc.url)))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, GitKey(set.Automations[0])); diff != "" {
				t.Errorf("gitKey (-want +got):\n%s", diff)
			}
		})
	}
}
