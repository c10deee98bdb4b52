package controller

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
	"github.com/hoist-dev/hoist/service"
)

// TestArgoCRDsInstalledLater runs the controller against a real API
// server without Argo CD's CustomResourceDefinitions (Argo CD itself cannot
// run here), then installs them: an Application created then, with Image
// Updater's annotations, is read and patched (ImagesUpdated) without a
// restart. Removed, the kinds are no longer watched, and installed again,
// watched again.
func TestArgoCRDsInstalledLater(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	kube := testenv.StartKube(t, NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c := kube.Client
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "apps/web", "1.0.0", testenv.ImageOptions{})
	reg.Tag(t, "apps/web", d, "1.1.0")
	create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}})

	rc, err := registry.New(registry.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	runner := &automation.Runner{Scanner: &automation.Scanner{Registry: rc}, StateDir: state, SecretsDir: filepath.Join(state, "secrets")}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the controller's log:\n%s", logs.String())
		}
	})
	startArgoManager(ctx, t, kube, Options{
		Service: service.ServiceOptions{Runner: runner, Registry: prometheus.NewRegistry(), Logger: log, StartupSpread: time.Millisecond},
		Logger:  log,
	})
	waitLog := func(line string) {
		t.Helper()
		waitFor(ctx, t, "the log line "+line, func() bool { return strings.Contains(logs.String(), line) })
	}
	waitLog("not watching Argo CD's Applications yet")

	data, err := os.ReadFile(filepath.Join(testenv.ArgoCDCRDs(t), "argocd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crds := func() []*unstructured.Unstructured {
		var out []*unstructured.Unstructured
		for doc := range strings.SplitSeq(string(data), "\n---") {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				t.Fatal(err)
			}
			if len(u.Object) > 0 {
				out = append(out, u)
			}
		}
		return out
	}
	install := func() {
		t.Helper()
		for _, crd := range crds() {
			// A CRD of the same name still being removed is not
			// created until it is gone.
			waitFor(ctx, t, "CustomResourceDefinition "+crd.GetName()+" created", func() bool { return c.Create(ctx, crd.DeepCopy()) == nil })
		}
	}
	app := func(name string) {
		t.Helper()
		u := &unstructured.Unstructured{}
		doc := fmt.Sprintf(`
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: %s
  namespace: argocd
  annotations:
    argocd-image-updater.argoproj.io/image-list: web=%s/apps/web:~1
    argocd-image-updater.argoproj.io/web.helm.image-tag: image.tag
spec:
  source:
    repoURL: https://charts.example.com
    chart: web
    targetRevision: 1.0.0
    helm:
      parameters:
      - {name: image.tag, value: 1.0.0, forceString: true}
`, name, reg.Host)
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		// The API server serves the kind once the CRD is established.
		waitFor(ctx, t, "Application "+name+" created", func() bool { return c.Create(ctx, u.DeepCopy()) == nil })
	}
	updated := func(name string) {
		t.Helper()
		waitFor(ctx, t, "event "+ReasonImagesUpdated+" on Application "+name, func() bool {
			var l eventsv1.EventList
			if c.List(ctx, &l, client.InNamespace("argocd")) != nil {
				return false
			}
			for _, e := range l.Items {
				if e.Regarding.Kind == "Application" && e.Regarding.Name == name && e.Reason == ReasonImagesUpdated {
					return true
				}
			}
			return false
		})
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(ApplicationGVK)
		if err := c.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: name}, u); err != nil {
			t.Fatal(err)
		}
		params, _, _ := unstructured.NestedSlice(u.Object, "spec", "source", "helm", "parameters")
		tag := ""
		for _, p := range params {
			if m, _ := p.(map[string]any); m["name"] == "image.tag" {
				tag, _ = m["value"].(string)
			}
		}
		if tag != "1.1.0" {
			t.Errorf("Application %s's Helm parameters are %v, want image.tag 1.1.0", name, params)
		}
	}

	install()
	waitLog("CustomResourceDefinition installed: watching Argo CD Image Updater's ImageUpdaters")
	app("web")
	updated("web")

	for _, crd := range crds() {
		if err := c.Delete(ctx, crd); err != nil {
			t.Fatal(err)
		}
	}
	waitLog("CustomResourceDefinition gone: no longer watching Argo CD's Applications")
	waitLog("CustomResourceDefinition gone: no longer watching Argo CD Image Updater's ImageUpdaters")

	install()
	app("again")
	updated("again")
}
