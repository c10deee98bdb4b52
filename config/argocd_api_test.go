package config_test

import (
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/config"
)

// TestLoadArgoCDAPI: with LoadOptions.ArgoCDAPI (the controller), an
// Application without a write-back method (Image Updater's default,
// argocd) is an automation that patches its spec: no Git repository, the
// source to patch, its type as Argo CD reports it, the images it runs and
// force-update. Without it, the method is an error naming the annotation.
func TestLoadArgoCDAPI(t *testing.T) {
	fsys := fstest.MapFS{"web.yaml": {Data: []byte(`apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
  namespace: apps
  annotations:
    argocd-image-updater.argoproj.io/image-list: web=ghcr.io/acme/web, side=ghcr.io/acme/side
    argocd-image-updater.argoproj.io/side.force-update: "true"
spec:
  sources:
  - {repoURL: https://git.example.com/values.git, targetRevision: main, ref: values}
  - {repoURL: https://charts.example.com, chart: web, targetRevision: 1.0.0}
status:
  sourceTypes: [Directory, Helm]
  summary: {images: ["ghcr.io/acme/web:1.0.0"]}
`)}}
	set, err := config.LoadOntoFSWith(nil, fsys, ".", config.LoadOptions{ArgoCD: true, ArgoCDAPI: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Automations) != 1 {
		t.Fatalf("%d automations, want 1", len(set.Automations))
	}
	a := set.Automations[0]
	if a.Spec.Git != nil {
		t.Errorf("spec.git = %+v, want none: the argocd method writes no Git repository", a.Spec.Git)
	}
	ac := *a.ArgoCD
	ac.Images = nil
	want := config.ArgoCD{App: "web", AppNamespace: "apps", Method: config.ArgoMethodAPI, SourceIndex: 1, Type: config.ArgoTypeHelm,
		HasStatus: true, Running: []string{"ghcr.io/acme/web:1.0.0"}}
	if diff := cmp.Diff(want, ac); diff != "" {
		t.Errorf("ArgoCD (-want +got):\n%s", diff)
	}
	var force []bool
	for _, im := range a.ArgoCD.Images {
		force = append(force, im.Force)
	}
	if diff := cmp.Diff([]bool{false, true}, force); diff != "" {
		t.Errorf("force-update of web, side (-want +got):\n%s", diff)
	}

	if _, err := config.LoadOntoFSWith(nil, fsys, ".", config.LoadOptions{ArgoCD: true}); err == nil {
		t.Errorf("without ArgoCDAPI: no error for the argocd method")
	}
}
