package automation

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/config"
)

// TestArgoPatch sets an Application's Helm parameters or Kustomize images
// in its spec, as Image Updater's argocd method does; with a status, an
// image the Application does not run is left alone unless forced.
func TestArgoPatch(t *testing.T) {
	web := config.ArgoCDImage{Alias: "web", Image: "reg.example/apps/web", Policy: "argocd:web-web", HelmName: "image.repository", HelmTag: "image.tag", KustomizeName: "reg.example/apps/web"}
	side := config.ArgoCDImage{Alias: "side", Image: "reg.example/apps/side", Policy: "argocd:web-side", HelmName: "side.name", HelmTag: "side.tag", KustomizeName: "side"}
	sel := map[string]string{"argocd:web-web": "reg.example/apps/web:1.3.0", "argocd:web-side": "reg.example/apps/side:2.0.0"}
	cases := map[string]struct {
		ac      config.ArgoCD
		app     string
		want    string // the spec after, "" when unchanged
		fields  []string
		wantErr string
	}{
		"helm, a parameter in place and one added": {
			ac: config.ArgoCD{Type: config.ArgoTypeHelm, SourceIndex: -1, Images: []config.ArgoCDImage{web}},
			app: `
spec:
  source:
    repoURL: https://charts.example
    chart: web
    helm:
      releaseName: web
      parameters:
      - {name: image.tag, value: "1.2.0", forceString: true}
`,
			want: `
source:
  chart: web
  helm:
    parameters:
    - forceString: true
      name: image.tag
      value: 1.3.0
    - forceString: true
      name: image.repository
      value: reg.example/apps/web
    releaseName: web
  repoURL: https://charts.example
`,
			fields: []string{"spec.source.helm.parameters[name=image.tag].value", "spec.source.helm.parameters[name=image.repository].value"},
		},
		"helm, up to date": {
			ac: config.ArgoCD{Type: config.ArgoTypeHelm, SourceIndex: -1, Images: []config.ArgoCDImage{web}},
			app: `
spec:
  source:
    helm:
      parameters:
      - {name: image.repository, value: reg.example/apps/web}
      - {name: image.tag, value: 1.3.0}
`,
		},
		"kustomize from the status, multi-source": {
			ac: config.ArgoCD{SourceIndex: 1, Images: []config.ArgoCDImage{web, side}},
			app: `
spec:
  sources:
  - {repoURL: https://git.example/values.git, ref: values}
  - repoURL: https://git.example/app.git
    path: overlays/prod
    kustomize:
      images: [side=reg.example/apps/side:1.0.0]
status:
  sourceTypes: [Directory, Kustomize]
  summary:
    images: [reg.example/apps/web:1.2.0, reg.example/apps/side:1.0.0]
`,
			want: `
sources:
- ref: values
  repoURL: https://git.example/values.git
- kustomize:
    images:
    - side=reg.example/apps/side:2.0.0
    - reg.example/apps/web:1.3.0
  path: overlays/prod
  repoURL: https://git.example/app.git
`,
			fields: []string{"spec.sources[1].kustomize.images[side]", "spec.sources[1].kustomize.images[reg.example/apps/web]"},
		},
		"forceUpdate false: an image not running is left alone": {
			ac: config.ArgoCD{Type: config.ArgoTypeKustomize, SourceIndex: -1, Images: []config.ArgoCDImage{web, side}},
			app: `
spec:
  source: {repoURL: https://git.example/app.git, path: app}
status:
  summary:
    images: [reg.example/apps/web:1.2.0]
`,
			want: `
source:
  kustomize:
    images:
    - reg.example/apps/web:1.3.0
  path: app
  repoURL: https://git.example/app.git
`,
			fields: []string{"spec.source.kustomize.images[reg.example/apps/web]"},
		},
		"forceUpdate true: updated though not running": {
			ac: config.ArgoCD{Type: config.ArgoTypeKustomize, SourceIndex: -1, Images: []config.ArgoCDImage{func() config.ArgoCDImage { s := side; s.Force = true; return s }()}},
			app: `
spec:
  source: {repoURL: https://git.example/app.git, path: app}
status: {health: {status: Healthy}}
`,
			want: `
source:
  kustomize:
    images:
    - side=reg.example/apps/side:2.0.0
  path: app
  repoURL: https://git.example/app.git
`,
			fields: []string{"spec.source.kustomize.images[side]"},
		},
		"type unknown": {
			ac:      config.ArgoCD{SourceIndex: -1, Images: []config.ArgoCDImage{web}},
			app:     "spec: {source: {repoURL: https://git.example/app.git}}\n",
			wantErr: "spec.source: its type is not known yet",
		},
		"plain directory": {
			ac:      config.ArgoCD{SourceIndex: -1, Images: []config.ArgoCDImage{web}},
			app:     "spec: {source: {repoURL: https://git.example/app.git}}\nstatus: {sourceType: Directory}\n",
			wantErr: "use the git write-back method",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var obj map[string]any
			if err := yaml.Unmarshal([]byte(tc.app), &obj); err != nil {
				t.Fatal(err)
			}
			before, err := yaml.Marshal(obj["spec"])
			if err != nil {
				t.Fatal(err)
			}
			tc.ac.App, tc.ac.AppNamespace = "web", "argocd"
			r := &Runner{}
			changes, err := r.argoPatch(obj, &tc.ac, nil, sel)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			after, err := yaml.Marshal(obj["spec"])
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimPrefix(tc.want, "\n")
			if tc.want == "" {
				want = string(before)
			}
			if diff := cmp.Diff(want, string(after)); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
			var fields []string
			for _, c := range changes {
				fields = append(fields, c.Field)
			}
			if diff := cmp.Diff(tc.fields, fields); diff != "" {
				t.Errorf("changed fields (-want +got):\n%s", diff)
			}
		})
	}
}
