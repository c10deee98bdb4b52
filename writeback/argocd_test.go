package writeback_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/writeback"
)

func TestPlanArgo(t *testing.T) {
	web := writeback.ArgoImage{Policy: "argocd:web-web", Ref: "reg.local/web:1.3.0", HelmName: "image.name", HelmTag: "image.tag"}
	cases := map[string]struct {
		kind   writeback.ArgoFile
		in     string
		exists bool
		images []writeback.ArgoImage
		want   string
		news   []string
	}{
		"helm source created": {
			kind: writeback.ArgoSourceHelm, images: []writeback.ArgoImage{web},
			want: "helm:\n  parameters:\n  - forcestring: true\n    name: image.name\n    value: reg.local/web\n  - forcestring: true\n    name: image.tag\n    value: 1.3.0\n",
			news: []string{"reg.local/web", "1.3.0"},
		},
		"helm source edited in place": {
			kind: writeback.ArgoSourceHelm, exists: true, images: []writeback.ArgoImage{web},
			in:   "# kept\nhelm:\n    parameters:\n      - name: image.name\n        value: reg.local/web   # kept too\n        forcestring: true\n      - {name: image.tag, value: '1.2.0', forcestring: true}\n",
			want: "# kept\nhelm:\n    parameters:\n      - name: image.name\n        value: reg.local/web   # kept too\n        forcestring: true\n      - {name: image.tag, value: '1.3.0', forcestring: true}\n",
			news: []string{"1.3.0"},
		},
		"helm source parameter appended": {
			kind: writeback.ArgoSourceHelm, exists: true, images: []writeback.ArgoImage{web},
			in:   "helm:\n  parameters:\n    - name: image.tag\n      value: 1.2.0\n      forcestring: true\n",
			want: "helm:\n  parameters:\n    - name: image.tag\n      value: 1.3.0\n      forcestring: true\n    - forcestring: true\n      name: image.name\n      value: reg.local/web\n",
			news: []string{"1.3.0", "reg.local/web"},
		},
		"helm spec parameter": {
			kind: writeback.ArgoSourceHelm, images: []writeback.ArgoImage{{Policy: "p", Ref: "web:1.10", HelmSpec: "image.spec"}},
			want: "helm:\n  parameters:\n  - forcestring: true\n    name: image.spec\n    value: web:1.10\n",
			news: []string{"web:1.10"},
		},
		"kustomize source created": {
			kind: writeback.ArgoSourceKustomize, images: []writeback.ArgoImage{{Policy: "p", Ref: "reg.local/web:1.3.0"}},
			want: "kustomize:\n  images:\n  - reg.local/web:1.3.0\n",
			news: []string{"reg.local/web:1.3.0"},
		},
		"kustomize source renamed image edited": {
			kind: writeback.ArgoSourceKustomize, exists: true, images: []writeback.ArgoImage{{Policy: "p", Ref: "reg.local/web:1.3.0@sha256:abc", KustomizeName: "web"}},
			in:   "kustomize:\n  images:\n  - other:1\n  - web=reg.local/web:1.2.0\n",
			want: "kustomize:\n  images:\n  - other:1\n  - web=reg.local/web:1.3.0@sha256:abc\n",
			news: []string{"web=reg.local/web:1.3.0@sha256:abc"},
		},
		"kustomization newTag edited and added": {
			kind: writeback.ArgoKustomization, exists: true,
			images: []writeback.ArgoImage{{Policy: "p", Ref: "reg.local/web:1.3.0", KustomizeName: "web"}, {Policy: "q", Ref: "reg.local/side:2.0.0"}},
			in:     "resources:\n- deploy.yaml\nimages:\n  - name: web\n    newTag: \"1.2.0\" # pinned by hoist\n  - name: reg.local/side\n",
			want:   "resources:\n- deploy.yaml\nimages:\n  - name: web\n    newTag: \"1.3.0\" # pinned by hoist\n    newName: reg.local/web\n  - name: reg.local/side\n    newTag: 2.0.0\n",
			news:   []string{"1.3.0", "reg.local/web", "2.0.0"},
		},
		"kustomization images added": {
			kind: writeback.ArgoKustomization, exists: true,
			images: []writeback.ArgoImage{{Policy: "p", Ref: "reg.local/web:1.3.0"}},
			in:     "resources:\n- deploy.yaml",
			want:   "resources:\n- deploy.yaml\nimages:\n- name: reg.local/web\n  newTag: 1.3.0\n",
			news:   []string{"1.3.0"},
		},
		"helm values edited and added": {
			kind: writeback.ArgoHelmValues, exists: true,
			images: []writeback.ArgoImage{{Policy: "p", Ref: "reg.local/web:1.3.0", HelmName: "web.image.repository", HelmTag: "web.image.tag"}},
			in:     "replicas: 2\nweb:\n  image:\n    repository: reg.local/web\n  port: 80\nother: {}\n",
			want:   "replicas: 2\nweb:\n  image:\n    repository: reg.local/web\n    tag: 1.3.0\n  port: 80\nother: {}\n",
			news:   []string{"1.3.0"},
		},
		"helm values nested keys added": {
			kind: writeback.ArgoHelmValues, exists: true,
			images: []writeback.ArgoImage{{Policy: "p", Ref: "reg.local/web:1.3.0", HelmName: "image.name", HelmTag: "image.tag"}},
			in:     "replicas: 2\n",
			want:   "replicas: 2\nimage:\n  name: reg.local/web\n  tag: 1.3.0\n",
			news:   []string{"reg.local/web", "1.3.0"},
		},
		"helm values file created": {
			kind:   writeback.ArgoHelmValues,
			images: []writeback.ArgoImage{{Policy: "p", Ref: "web:1.3.0", HelmName: "image.name", HelmTag: "image.tag"}},
			want:   "image:\n  name: web\n  tag: 1.3.0\n",
			news:   []string{"web", "1.3.0"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var data []byte
			if tc.exists {
				data = []byte(tc.in)
			}
			plan, err := writeback.PlanArgo("f.yaml", data, tc.kind, tc.images)
			if tc.news == nil {
				if err == nil {
					t.Fatalf("want an error, got\n%s", plan.New)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(plan.New)); diff != "" {
				t.Errorf("file (-want +got):\n%s", diff)
			}
			var news []string
			for _, c := range plan.Changes {
				news = append(news, c.New)
			}
			if diff := cmp.Diff(tc.news, news); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			again, err := writeback.PlanArgo("f.yaml", plan.New, tc.kind, tc.images)
			if err != nil || len(again.Changes) != 0 {
				t.Errorf("planning again: %v, %d changes", err, len(again.Changes))
			}
		})
	}
}

func TestPlanArgoRefuses(t *testing.T) {
	_, err := writeback.PlanArgo("f.yaml", []byte("helm:\n  parameters: [{name: a, value: b}]\n"), writeback.ArgoSourceHelm,
		[]writeback.ArgoImage{{Policy: "p", Ref: "web:1", HelmName: "image.name", HelmTag: "image.tag"}})
	var fe *writeback.FileError
	if !errors.As(err, &fe) || !errors.Is(err, writeback.ErrUnsupported) {
		t.Fatalf("got %v, want a FileError wrapping ErrUnsupported", err)
	}
}
