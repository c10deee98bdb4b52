package controller

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
	"github.com/hoist-dev/hoist/service"
)

// TestArgoEventsNews: the events on an Application are said on news
// only: a selection that is not the first one seen, a failure that starts
// or whose message changes (again after a success), a commit not said yet.
func TestArgoEventsNews(t *testing.T) {
	e := newArgoEvents()
	app := objectKey{"Application", "argocd", "web"}
	var got []string
	say := func(what string, news bool) {
		if news {
			got = append(got, what)
		}
	}
	say("first selection 1.0", e.selected("argocd:web-web", "web:1.0"))
	say("same selection 1.0", e.selected("argocd:web-web", "web:1.0"))
	say("new selection 1.1", e.selected("argocd:web-web", "web:1.1"))
	say("failure A", e.warn(app, "run", "A"))
	say("failure A again", e.warn(app, "run", "A"))
	say("failure B", e.warn(app, "run", "B"))
	say("success", e.warn(app, "run", ""))
	say("failure B after a success", e.warn(app, "run", "B"))
	say("failure B of another source", e.warn(app, "argocd:web-web", "B"))
	say("commit c1", e.wrote(app, "c1"))
	say("commit c1 again", e.wrote(app, "c1"))
	say("commit c2", e.wrote(app, "c2"))
	say("a patch", e.wrote(app, ""))
	say("another patch", e.wrote(app, ""))
	want := []string{"new selection 1.1", "failure A", "failure B", "failure B after a success", "failure B of another source", "commit c1", "commit c2", "a patch", "another patch"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("news (-want +got):\n%s", diff)
	}
}

// startArgoManager runs the controller with o in a manager on kube until
// the test ends, and returns it.
func startArgoManager(ctx context.Context, t *testing.T, kube *testenv.Kube, o Options) *Controller {
	t.Helper()
	skip := true // one manager per test: the reconcilers' names repeat
	mgr, err := manager.New(kube.Config, manager.Options{
		Scheme: NewScheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: crconfig.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := New(mgr, o)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	mctx, stop := context.WithCancel(ctx)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	return ctl
}

// TestArgoApplicationEvents runs the controller against a real API server
// with a minimal Application CustomResourceDefinition (Argo CD itself
// cannot run here): the Applications that have no status of hoist's get
// events instead, as Image Updater's kube events. An Application patched
// with the argocd method gets ImagesUpdated with Image Updater's note and
// annotations; a new tag, NewSelection; an image whose repository does not
// exist, ReconciliationFailed; an Application whose settings are wrong,
// InvalidSpec naming the annotation.
func TestArgoApplicationEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver")
	}
	kube := testenv.StartKube(t, NewScheme(), filepath.Join("..", "config", "crd"), testenv.ArgoCDCRDs(t))
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	c := kube.Client
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "apps/web", "1.0.0", testenv.ImageOptions{})
	reg.Tag(t, "apps/web", d, "1.1.0")
	create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}})
	app := func(name, annotations string) {
		u := &unstructured.Unstructured{}
		doc := fmt.Sprintf(`
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: %s
  namespace: argocd
  annotations:
%s
spec:
  source:
    repoURL: https://charts.example.com
    chart: web
    targetRevision: 1.0.0
    helm:
      parameters:
      - {name: image.tag, value: 1.0.0, forceString: true}
`, name, annotations)
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		create(ctx, t, c, u)
	}
	app("web", "    argocd-image-updater.argoproj.io/image-list: web="+reg.Host+"/apps/web:~1\n    argocd-image-updater.argoproj.io/web.helm.image-tag: image.tag")
	app("gone", "    argocd-image-updater.argoproj.io/image-list: gone="+reg.Host+"/apps/gone")
	app("typo", "    argocd-image-updater.argoproj.io/image-list: web="+reg.Host+"/apps/web\n    argocd-image-updater.argoproj.io/web.update-strategy: newest")

	rc, err := registry.New(registry.WithMaxRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	runner := &automation.Runner{Scanner: &automation.Scanner{Registry: rc}, StateDir: state, SecretsDir: filepath.Join(state, "secrets")}
	log := slog.New(slog.DiscardHandler)
	ctl := startArgoManager(ctx, t, kube, Options{
		Service: service.ServiceOptions{Runner: runner, Registry: prometheus.NewRegistry(), Logger: log, StartupSpread: time.Millisecond},
		Logger:  log,
	})

	event := func(name, reason string, match func(*eventsv1.Event) bool) *eventsv1.Event {
		t.Helper()
		var found *eventsv1.Event
		waitFor(ctx, t, "event "+reason+" on Application "+name, func() bool {
			var l eventsv1.EventList
			if c.List(ctx, &l, client.InNamespace("argocd")) != nil {
				return false
			}
			for i := range l.Items {
				e := &l.Items[i]
				if e.Regarding.Kind == "Application" && e.Regarding.Name == name && e.Reason == reason && (match == nil || match(e)) {
					found = e
					return true
				}
			}
			return false
		})
		return found
	}

	updated := event("web", ReasonImagesUpdated, nil)
	if updated.Note != "Successfully updated application 'web'" || updated.Type != corev1.EventTypeNormal {
		t.Errorf("ImagesUpdated: %s %q", updated.Type, updated.Note)
	}
	wantAnn := map[string]string{
		"argocd-image-updater.image-0/full-image-name": reg.Host + "/apps/web",
		"argocd-image-updater.image-0/image-name":      "apps/web",
		"argocd-image-updater.image-0/old-tag":         "1.0.0",
		"argocd-image-updater.image-0/new-tag":         "1.1.0",
	}
	if diff := cmp.Diff(wantAnn, updated.Annotations); diff != "" {
		t.Errorf("ImagesUpdated's annotations (-want +got):\n%s", diff)
	}
	failed := event("gone", ReasonFailed, nil)
	if failed.Type != corev1.EventTypeWarning || !strings.Contains(failed.Note, "apps/gone") {
		t.Errorf("ReconciliationFailed: %s %q", failed.Type, failed.Note)
	}
	invalid := event("typo", ReasonInvalid, nil)
	if !strings.Contains(invalid.Note, `metadata.annotations["argocd-image-updater.argoproj.io/web.update-strategy"]: update strategy "newest"`) {
		t.Errorf("InvalidSpec: %q", invalid.Note)
	}

	// A new tag, scanned: a new selection, and the Application patched
	// again.
	reg.Tag(t, "apps/web", d, "1.2.0")
	ctl.Service().Rescan("argocd/web-web")
	event("web", ReasonNewSelection, func(e *eventsv1.Event) bool { return strings.HasSuffix(e.Note, "/apps/web:1.2.0") })
	event("web", ReasonImagesUpdated, func(e *eventsv1.Event) bool { return e.Annotations["argocd-image-updater.image-0/new-tag"] == "1.2.0" })

	// Two writes to an Application whose version did not change between
	// them (as two git write-backs leave it) are two events, each with its
	// own annotations: not a series that keeps the first's.
	web := objectKey{ApplicationGVK.Kind, "argocd", "web"}
	for _, commit := range []string{"c1", "c2"} {
		ctl.argoEmit(ctx, nil, web, false, ReasonImagesUpdated, "Update", "Successfully updated application 'web'", map[string]string{"hoist.dev/commit": commit})
	}
	for _, commit := range []string{"c1", "c2"} {
		event("web", ReasonImagesUpdated, func(e *eventsv1.Event) bool { return e.Annotations["hoist.dev/commit"] == commit })
	}

	var l eventsv1.EventList
	if err := c.List(ctx, &l, client.InNamespace("argocd")); err != nil {
		t.Fatal(err)
	}
	for _, e := range l.Items {
		if e.Regarding.Name == "web" && e.Reason == ReasonNewSelection && strings.HasSuffix(e.Note, ":1.1.0") {
			t.Errorf("the first selection seen was announced as new: %q", e.Note)
		}
	}
}
