package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	gogit "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/google/go-cmp/cmp"
)

// TestValidateRepositoryNotifications: validate warns of a Provider or
// Alert that lies in the Git working tree of one of its automations (a
// remote of the tree is the automation's URL), under the update path, as
// hoist run will not read it from there; elsewhere in the tree, or in a
// tree of another repository, it does not.
func TestValidateRepositoryNotifications(t *testing.T) {
	const automation = `apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: apps}
spec:
  git:
    url: %s
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
  update: {path: ./clusters/prod}
`
	const alerts = `apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hook, namespace: apps}
spec: {type: generic, address: 'https://hooks.example.com/x'}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: all, namespace: apps}
spec:
  providerRef: {name: hook}
  eventSources: [{kind: ImageUpdateAutomation, name: fleet}]
`
	const why = " of automation apps/fleet in its Git repository, where hoist run does not read it (a repository may not choose where hoist sends notifications); read here as configuration\n"
	const ok = "ok: 0 image repositories, 0 policies, 1 automation, 0 Git repositories and 0 receivers in .\nnotifications: 1 provider and 1 alert\n"
	tests := map[string]struct {
		remote, url, alertsAt string
		want                  string
	}{
		"under the update path": {
			remote: "git@git.example.com:org/fleet.git", url: "https://git.example.com/org/fleet", alertsAt: "clusters/prod/notify/alerts.yaml",
			want: "warning: clusters/prod/notify/alerts.yaml:1: kind: Provider apps/hook lies under the update path ./clusters/prod" + why +
				"warning: clusters/prod/notify/alerts.yaml:6: kind: Alert apps/all lies under the update path ./clusters/prod" + why + ok,
		},
		"outside the update path": {
			remote: "https://git.example.com/org/fleet.git", url: "https://git.example.com/org/fleet.git", alertsAt: "clusters/staging/alerts.yaml",
			want: ok,
		},
		"another repository": {
			remote: "https://git.example.com/org/config.git", url: "https://git.example.com/org/fleet.git", alertsAt: "clusters/prod/alerts.yaml",
			want: ok,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			repo, err := gogit.PlainInit(dir, false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{tc.remote}}); err != nil {
				t.Fatal(err)
			}
			for file, content := range map[string]string{
				"hoist/automation.yaml": fmtAutomation(automation, tc.url),
				tc.alertsAt:             alerts,
			} {
				p := filepath.Join(dir, file)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(dir)
			want := cli{stdout: tc.want}
			if diff := cmp.Diff(want, runCLI(t, nil, "", "validate"), cmp.AllowUnexported(cli{})); diff != "" {
				t.Errorf("hoist validate (-want +got):\n%s", diff)
			}
		})
	}
}

func fmtAutomation(format, url string) string {
	return fmt.Sprintf(format, url)
}
