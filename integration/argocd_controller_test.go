package integration

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/controller"
	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestControllerArgoCD runs `hoist controller` with Argo CD's Application
// and Image Updater's ImageUpdater served by the API server: Argo CD
// itself cannot run here (it needs a cluster to deploy to and its
// repository server), so the test installs minimal
// CustomResourceDefinitions of both and writes the Applications' status as
// Argo CD would. A tag pushed to the registry (its notification reaching a
// Receiver) has the controller patch the Application's spec, Image
// Updater's argocd write-back method: Helm parameters of an Application
// with annotations, Kustomize images of a multi-source Application an
// ImageUpdater selects. An image the Application does not run
// (status.summary.images) is left alone: forceUpdate is false.
func TestControllerArgoCD(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"), testenv.ArgoCDCRDs(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := kube.Client
	const ns = "argocd"
	addr := freeAddr(t)
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{
		NotifyURL:     "http://" + addr + hookPath(hookToken, "registry", ns),
		NotifyHeaders: http.Header{"Authorization": {"Bearer " + hookToken}},
	})
	created := testenv.ImageOptions{Created: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)}
	digests := map[string]string{}
	for _, repo := range []string{"apps/web", "apps/side", "apps/shop"} {
		digests[repo] = reg.PushImage(t, repo, "1.0.0", created)
	}

	create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	create(ctx, t, c, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: ns}, StringData: map[string]string{"token": hookToken}})
	create(ctx, t, c, &v1alpha1.Receiver{
		ObjectMeta: metav1.ObjectMeta{Name: "registry", Namespace: ns},
		Spec: v1alpha1.ReceiverSpec{
			Type: "distribution",
			Resources: []v1alpha1.CrossNamespaceObjectReference{
				{Kind: v1alpha1.ImageRepositoryKind, Name: "web-web"},
				{Kind: v1alpha1.ImageRepositoryKind, Name: "web-side"},
				{Kind: v1alpha1.ImageRepositoryKind, Name: "shop-shop"},
			},
			SecretRef: v1alpha1.LocalObjectReference{Name: "hook"},
		},
	})
	// web: Image Updater's annotations (read as the ImageUpdater below
	// says: useAnnotations), a Helm chart from a Helm repository, running
	// web but not side.
	createYAML(ctx, t, c, fmt.Sprintf(`
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: web
  namespace: argocd
  annotations:
    argocd-image-updater.argoproj.io/image-list: web=%[1]s/apps/web:~1, side=%[1]s/apps/side:~1
    argocd-image-updater.argoproj.io/web.helm.image-name: image.repository
    argocd-image-updater.argoproj.io/web.helm.image-tag: image.tag
    argocd-image-updater.argoproj.io/side.helm.image-spec: side.image
spec:
  project: default
  source:
    repoURL: https://charts.example.com
    chart: web
    targetRevision: 1.4.2
    helm:
      parameters:
      - {name: image.repository, value: %[1]s/apps/web, forceString: true}
      - {name: image.tag, value: 1.0.0, forceString: true}
  destination: {server: https://kubernetes.default.svc, namespace: web}
status:
  sourceType: Helm
  summary:
    images: [%[1]s/apps/web:1.0.0]
`, reg.Host))
	// shop: selected by an ImageUpdater (Image Updater v1.x); the type of
	// its source without ref is the one Argo CD detected.
	createYAML(ctx, t, c, `
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: shop, namespace: argocd, labels: {team: shop}}
spec:
  project: default
  sources:
  - {repoURL: https://git.example.com/values.git, targetRevision: main, ref: values}
  - {repoURL: https://git.example.com/shop.git, targetRevision: main, path: overlays/prod}
  destination: {server: https://kubernetes.default.svc, namespace: shop}
status:
  sourceTypes: [Directory, Kustomize]
  summary:
    images: [`+reg.Host+`/apps/shop:1.0.0]
`)
	createYAML(ctx, t, c, fmt.Sprintf(`
apiVersion: argocd-image-updater.argoproj.io/v1alpha1
kind: ImageUpdater
metadata: {name: shop, namespace: argocd}
spec:
  applicationRefs:
  - namePattern: "sh*"
    labelSelectors: {matchLabels: {team: shop}}
  - namePattern: web
    useAnnotations: true
  images:
  - alias: shop
    imageName: %s/apps/shop:~1
    manifestTargets:
      kustomize: {name: shop}
`, reg.Host))

	p := startControllerAt(t, kube, addr)
	p.waitLog("configuration applied", 30*time.Second)
	for repo, d := range digests {
		reg.Tag(t, repo, d, "1.1.0")
	}

	web := waitApplication(ctx, t, c, ns, "web", func(u *unstructured.Unstructured) bool {
		return strings.Contains(fmt.Sprint(u.Object["spec"]), "1.1.0")
	})
	params, _, _ := unstructured.NestedSlice(web.Object, "spec", "source", "helm", "parameters")
	want := []any{
		map[string]any{"name": "image.repository", "value": reg.Host + "/apps/web", "forceString": true},
		map[string]any{"name": "image.tag", "value": "1.1.0", "forceString": true},
	}
	if diff := cmp.Diff(want, params); diff != "" {
		t.Errorf("web's Helm parameters (-want +got); side is not running, so side.image must not be set:\n%s", diff)
	}
	shop := waitApplication(ctx, t, c, ns, "shop", func(u *unstructured.Unstructured) bool {
		return strings.Contains(fmt.Sprint(u.Object["spec"]), "1.1.0")
	})
	sources, _, _ := unstructured.NestedSlice(shop.Object, "spec", "sources")
	images, _, _ := unstructured.NestedStringSlice(sources[1].(map[string]any), "kustomize", "images")
	if diff := cmp.Diff([]string{"shop=" + reg.Host + "/apps/shop:1.1.0"}, images); diff != "" {
		t.Errorf("shop's Kustomize images (-want +got):\n%s", diff)
	}
	if _, ok := sources[0].(map[string]any)["kustomize"]; ok {
		t.Errorf("the source with ref was written: %v", sources[0])
	}
	if !strings.Contains(p.logs(), "image not running in the Application") {
		t.Errorf("no log line says side was left alone:\n%s", p.logs())
	}

	// side's 1.2.0, selected while side does not run, is written once Argo
	// CD reports side running: the reload that says so runs the
	// automation (at its interval, 5 minutes, it would come too late for
	// this test). The selection is waited for first, so that the order is
	// the same every time. The controller may patch the Application
	// meanwhile: retry on a conflict.
	reg.Tag(t, "apps/side", digests["apps/side"], "1.2.0")
	p.waitLog("to="+reg.Host+"/apps/side:1.2.0", 30*time.Second)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := c.Get(ctx, client.ObjectKeyFromObject(web), web); err != nil {
			return err
		}
		web.Object["status"] = map[string]any{"sourceType": "Helm", "summary": map[string]any{"images": []any{reg.Host + "/apps/web:1.1.0", reg.Host + "/apps/side:1.0.0"}}}
		return c.Update(ctx, web)
	}); err != nil {
		t.Fatal(err)
	}
	waitApplication(ctx, t, c, ns, "web", func(u *unstructured.Unstructured) bool {
		params, _, _ := unstructured.NestedSlice(u.Object, "spec", "source", "helm", "parameters")
		return cmp.Equal(params[len(params)-1], map[string]any{"name": "side.image", "value": reg.Host + "/apps/side:1.2.0", "forceString": true})
	})
	p.stop()
}

// createYAML creates the object of a YAML document.
func createYAML(ctx context.Context, t *testing.T, c client.Client, doc string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	create(ctx, t, c, u)
}

// waitApplication waits until the Application NS/NAME meets cond, and
// returns it.
func waitApplication(ctx context.Context, t *testing.T, c client.Client, ns, name string, cond func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	waitFor(ctx, t, "Application "+ns+"/"+name, func() bool {
		u = &unstructured.Unstructured{}
		u.SetGroupVersionKind(controller.ApplicationGVK)
		return c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u) == nil && cond(u)
	})
	return u
}
