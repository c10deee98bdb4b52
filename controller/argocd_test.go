package controller

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// concurrentWriter is a client.Reader of the API server that, after its
// first read of an Application, has someone else write it (as a user or
// Argo CD would, between hoist's read and its patch): it adds a Helm
// parameter of its own.
type concurrentWriter struct {
	client.Reader
	c     client.Client
	t     *testing.T
	wrote bool
}

func (r *concurrentWriter) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := r.Reader.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	if r.wrote {
		return nil
	}
	r.wrote = true
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(ApplicationGVK)
	if err := r.c.Get(ctx, key, u); err != nil {
		r.t.Fatal(err)
	}
	params, _, _ := unstructured.NestedSlice(u.Object, "spec", "source", "helm", "parameters")
	params = append(params, map[string]any{"name": "replicas", "value": "3"})
	if err := unstructured.SetNestedSlice(u.Object, params, "spec", "source", "helm", "parameters"); err != nil {
		r.t.Fatal(err)
	}
	if err := r.c.Update(ctx, u); err != nil {
		r.t.Fatal(err)
	}
	return nil
}

// TestApplicationsConflict: an Application written by someone else
// between hoist's read and its patch is read and edited again, so that
// both writes are kept (a merge patch replaces the whole parameter list:
// without the resourceVersion it would drop the other writer's
// parameter). It runs against a real API server with a minimal
// Application CustomResourceDefinition (Argo CD itself cannot run here).
func TestApplicationsConflict(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	kube := testenv.StartKube(t, NewScheme(), testenv.ArgoCDCRDs(t))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := kube.Client
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}); err != nil {
		t.Fatal(err)
	}
	app := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(`
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web, namespace: argocd}
spec:
  source:
    repoURL: https://charts.example
    chart: web
    helm:
      parameters:
      - {name: image.tag, value: 1.0.0, forceString: true}
`), &app.Object); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, app); err != nil {
		t.Fatal(err)
	}

	apps := &applications{reader: &concurrentWriter{Reader: c, c: c, t: t}, writer: c}
	edits := 0
	err := apps.UpdateApplication(ctx, "argocd", "web", func(obj map[string]any) (bool, error) {
		edits++
		params, _, _ := unstructured.NestedSlice(obj, "spec", "source", "helm", "parameters")
		for _, p := range params {
			if m := p.(map[string]any); m["name"] == "image.tag" {
				m["value"] = "1.1.0"
			}
		}
		return true, unstructured.SetNestedSlice(obj, params, "spec", "source", "helm", "parameters")
	})
	if err != nil {
		t.Fatal(err)
	}
	if edits != 2 {
		t.Errorf("edited %d times, want 2 (the first patch conflicts)", edits)
	}
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(ApplicationGVK)
	if err := c.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: "web"}, got); err != nil {
		t.Fatal(err)
	}
	params, _, _ := unstructured.NestedSlice(got.Object, "spec", "source", "helm", "parameters")
	want := []any{
		map[string]any{"name": "image.tag", "value": "1.1.0", "forceString": true},
		map[string]any{"name": "replicas", "value": "3"},
	}
	if diff := cmp.Diff(want, params); diff != "" {
		t.Errorf("parameters (-want +got):\n%s", diff)
	}
}

// TestArgoVersion: what Argo CD writes of an Application's status at each
// sync (health, history) changes nothing hoist reads; the images it runs
// and its source type do, as its spec does.
func TestArgoVersion(t *testing.T) {
	app := func(doc string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		return u
	}
	base := app(`{spec: {source: {path: a}}, status: {health: {status: Healthy}, summary: {images: [web:1]}, sourceType: Helm}}`)
	for name, tc := range map[string]struct {
		doc  string
		same bool
	}{
		"health and history": {`{spec: {source: {path: a}}, status: {health: {status: Degraded}, history: [{id: 1}], summary: {images: [web:1], externalURLs: [x]}, sourceType: Helm}}`, true},
		"images running":     {`{spec: {source: {path: a}}, status: {health: {status: Healthy}, summary: {images: [web:2]}, sourceType: Helm}}`, false},
		"source type":        {`{spec: {source: {path: a}}, status: {health: {status: Healthy}, summary: {images: [web:1]}, sourceType: Kustomize}}`, false},
		"spec":               {`{spec: {source: {path: b}}, status: {health: {status: Healthy}, summary: {images: [web:1]}, sourceType: Helm}}`, false},
		"no status any more": {`{spec: {source: {path: a}}}`, false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := argoVersion(app(tc.doc)) == argoVersion(base); got != tc.same {
				t.Errorf("same version = %v, want %v", got, tc.same)
			}
		})
	}
}
