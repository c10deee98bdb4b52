package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/config"
)

// TestLoadOntoFSRepositoryNotifications: with LoadOptions.Repository, the
// Provider and Alert documents of a repository are not read, whatever
// their group and validity, each with a warning naming its file and line;
// the configuration's own stay, and the repository's policies are read.
// Without it they are read (and the invalid one is an error).
func TestLoadOntoFSRepositoryNotifications(t *testing.T) {
	dir := filepath.Join("testdata", "repository-notifications")
	base, err := config.Load(filepath.Join(dir, "base.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	set, err := config.LoadOntoFSWith(base, os.DirFS(filepath.Join(dir, "repo")), "apps", config.LoadOptions{Repository: true})
	if err != nil {
		t.Fatalf("loading the repository: %v", err)
	}
	type warning struct {
		File  string
		Line  int
		Field string
		Msg   string
	}
	var got []warning
	for _, w := range set.Warnings {
		got = append(got, warning{w.File, w.Line, w.Field, w.Message})
	}
	const why = " not read: notifications come from the configuration (or the cluster), never from an automation's Git repository, whose content could choose where hoist sends and with which secret"
	want := []warning{
		{"apps/alerts.yaml", 5, "kind", "Provider apps/hook" + why},
		{"apps/alerts.yaml", 10, "kind", "Provider default/exfil" + why},
		{"apps/alerts.yaml", 15, "kind", "Alert apps/everything" + why},
		{"apps/alerts.yaml", 23, "kind", "Provider apps/rocket" + why},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if len(set.Providers) != 1 || set.Providers[0].Spec.Address != "https://hooks.example.com/ours" || len(set.Alerts) != 1 || set.Alerts[0].Provider != set.Providers[0] {
		t.Errorf("providers %v, alerts %v: want the configuration's only", set.Providers, set.Alerts)
	}
	if set.Policy("apps", "app") == nil {
		t.Errorf("the repository's policy was not read")
	}

	if _, err := config.LoadOntoFSWith(base, os.DirFS(filepath.Join(dir, "repo")), "apps", config.LoadOptions{}); err == nil {
		t.Errorf("without Repository, the repository's Providers are read: want the redefinition and the unknown field as errors")
	}
}

// TestLoadOntoFSRepositoryArgoPullSecrets: an Application read from an
// automation's Git repository may not name ext: or env: credentials (a
// program of this host, a variable of its environment); from the
// configuration it may.
func TestLoadOntoFSRepositoryArgoPullSecrets(t *testing.T) {
	app := func(secret string) []byte {
		return []byte(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
  namespace: argocd
  annotations:
    argocd-image-updater.argoproj.io/image-list: web=ghcr.io/acme/web:~1.2
    argocd-image-updater.argoproj.io/web.pull-secret: ` + secret + `
    argocd-image-updater.argoproj.io/write-back-method: git
spec:
  source: {repoURL: https://git.example.com/fleet.git, targetRevision: main, path: apps/web, kustomize: {}}
  destination: {server: https://kubernetes.default.svc}
`)
	}
	tests := map[string]struct {
		secret     string
		repository bool
		wantErr    string
	}{
		"ext from a repository":         {secret: "ext:/usr/bin/id", repository: true, wantErr: "ext: credentials are not accepted from an automation's Git repository"},
		"env from a repository":         {secret: "env:AWS_SECRET_ACCESS_KEY", repository: true, wantErr: "env: credentials are not accepted from an automation's Git repository"},
		"secret from a repository":      {secret: "secret:argocd/creds#token", repository: true, wantErr: "secret: credentials are not accepted from an automation's Git repository"},
		"pullsecret from a repository":  {secret: "pullsecret:argocd/ghcr", repository: true},
		"secret from the configuration": {secret: "secret:argocd/creds#token"},
		"ext from the configuration":    {secret: "ext:/usr/bin/id"},
		"env from the configuration":    {secret: "env:REGISTRY_CREDS"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			fsys := fstest.MapFS{"apps/app.yaml": {Data: app(tc.secret)}}
			_, err := config.LoadOntoFSWith(nil, fsys, "apps", config.LoadOptions{ArgoCD: true, Repository: tc.repository})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("loading: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("loading: %v, want an error with %q", err, tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), "apps/app.yaml:"):
				t.Errorf("error %v does not name the file and line", err)
			}
		})
	}
}
