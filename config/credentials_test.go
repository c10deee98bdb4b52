package config_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/config"
)

// TestTokenInURL warns, without quoting it, about a Git URL whose user name
// looks like a token, in a GitRepository and in an automation's spec.git;
// a URL with a password is refused, as before, without showing it.
func TestTokenInURL(t *testing.T) {
	const token = "ghp_0123456789abcdefghijklmnopqrstuvwxyz"
	tests := map[string]struct {
		url     string
		warning string // on spec.url and spec.git.url
		err     string
	}{
		"token as user name":     {url: "https://" + token + "@github.com/org/fleet", warning: "looks like a token"},
		"long hex token":         {url: "https://0123456789abcdef0123456789abcdef01234567@gitea.example.com/org/fleet", warning: "looks like a token"},
		"GitLab token":           {url: "http://glpat-abc123@gitlab.example.com/org/fleet", warning: "looks like a token"},
		"user and token":         {url: "https://x-access-token:" + token + "@github.com/org/fleet", err: "the URL carries a password"},
		"login name":             {url: "https://oauth2@gitlab.example.com/org/fleet"},
		"x-access-token alone":   {url: "https://x-access-token@github.com/org/fleet"},
		"ssh login":              {url: "ssh://git@github.com/org/fleet"},
		"scp-like":               {url: "git@github.com:org/fleet.git"},
		"ssh with a token login": {url: "ssh://" + token + "@github.com/org/fleet"},
		"no user":                {url: "https://github.com/org/fleet"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			doc := fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: apps}
spec: {url: %[1]s, ref: {branch: main}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: own, namespace: apps}
spec:
  git:
    url: %[1]s
    checkout: {ref: {branch: main}}
    commit: {author: {email: hoist@example.com}}
`, tc.url)
			set, err := config.Parse("test.yaml", []byte(doc))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse: %v, want an error with %q", err, tc.err)
				}
				if strings.Contains(err.Error(), token) {
					t.Errorf("the error shows the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got []string
			for _, w := range set.Warnings {
				got = append(got, w.String())
			}
			var want []string
			if tc.warning != "" {
				want = []string{
					"test.yaml:4: spec.url: the URL's user name looks like a token: a credential in the URL is in the configuration for all to read; put it in a secret named by spec.secretRef (key password or bearerToken) and remove it from the URL",
					"test.yaml:11: spec.git.url: the URL's user name looks like a token: a credential in the URL is in the configuration for all to read; put it in a secret named by spec.git.secretRef (key password or bearerToken) and remove it from the URL",
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAPIURLWithToken refuses a pull request API URL with user information,
// without showing it: the forge token comes from the Git secret.
func TestAPIURLWithToken(t *testing.T) {
	_, err := config.Parse("test.yaml", []byte(`apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: own, namespace: apps}
spec:
  git:
    url: https://github.com/org/fleet
    checkout: {ref: {branch: main}}
    commit: {author: {email: hoist@example.com}}
    push:
      branch: hoist/fleet
      pullRequest: {apiURL: "https://ghp_apiURLsecret42@ghe.example.com/api/v3"}
`))
	if err == nil || !strings.Contains(err.Error(), "spec.git.push.pullRequest.apiURL: the URL carries user information") {
		t.Fatalf("Parse: %v, want a refusal of the API URL", err)
	}
	if strings.Contains(err.Error(), "apiURLsecret") {
		t.Errorf("the error shows the token: %v", err)
	}
}
