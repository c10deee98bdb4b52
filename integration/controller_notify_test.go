package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/controller"
	"github.com/hoist-dev/hoist/internal/testenv"
)

// notificationCRDs is the directory of the minimal stand-ins for the
// CustomResourceDefinitions of Flux's Provider and Alert.
var notificationCRDs = filepath.Join("testdata", "flux-notification")

// fluxObject is an object of Flux's notification API, v1beta3.
func fluxObject(kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: controller.NotificationGroup, Version: "v1beta3", Kind: kind})
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// sinkEvent is what the tests compare of an event received.
type sinkEvent struct{ Kind, Name, Severity, Reason, Revision, Controller string }

// sinkEvents are the events of s, in order.
func sinkEvents(s *eventSink) []sinkEvent {
	events, _, _ := s.got()
	var out []sinkEvent
	for _, e := range events {
		o, _ := e["involvedObject"].(map[string]any)
		md, _ := e["metadata"].(map[string]any)
		out = append(out, sinkEvent{fmt.Sprint(o["kind"]), fmt.Sprint(o["name"]), fmt.Sprint(e["severity"]), fmt.Sprint(e["reason"]), fmt.Sprint(md["revision"]), fmt.Sprint(e["reportingController"])})
	}
	return out
}

// TestControllerNotifications runs `hoist controller` with the
// CustomResourceDefinitions of Flux's Provider and Alert served: a
// generic-hmac Provider whose Secret (in its namespace) holds the address
// and the HMAC key gets the new selection and the push, signed; the
// Provider and Alert are never written. A Secret of the same name in
// another namespace, used there by an ImageRepository, is not the one
// read. Then, restarted with --events-addr, the controller posts the
// events of the next push there, in Flux's event format, and sends
// nothing to the Provider itself: never both.
func TestControllerNotifications(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"), notificationCRDs)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := kube.Client
	f := newFleet(t, fleetOptions{first: "1.0.0", semver: ">=1.0.0", repoInterval: "1s"})
	applyFleet(ctx, t, c, f, nil)
	hook := newEventSink(t, "hmac-key")
	wrong := newEventSink(t, "")
	forwarded := newEventSink(t, "")

	create(ctx, t, c, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.namespace, Name: "hook"},
		StringData: map[string]string{"address": hook.URL + "/hook", "token": "hmac-key\n"},
	})
	// Another namespace's Secret "hook", which an ImageRepository there
	// names: the controller writes it under --secrets-dir/hook.
	create(ctx, t, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}})
	create(ctx, t, c, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "hook"},
		StringData: map[string]string{"address": wrong.URL + "/other", "token": "other-key"},
	})
	create(ctx, t, c, &v1alpha1.ImageRepository{
		ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "other"},
		Spec:       v1alpha1.ImageRepositorySpec{Image: f.reg.Ref(f.image(), ""), Interval: metav1.Duration{Duration: time.Hour}, SecretRef: &v1alpha1.LocalObjectReference{Name: "hook"}},
	})
	provider := fluxObject("Provider", f.namespace, "hook", map[string]any{"type": "generic-hmac", "secretRef": map[string]any{"name": "hook"}})
	alert := fluxObject("Alert", f.namespace, "images", map[string]any{
		"providerRef": map[string]any{"name": "hook"},
		"eventSources": []any{
			map[string]any{"kind": "ImageUpdateAutomation", "name": "fleet"},
			map[string]any{"kind": "ImagePolicy", "name": "*"},
		},
	})
	create(ctx, t, c, provider)
	create(ctx, t, c, alert)
	versions := map[string]string{"Provider": provider.GetResourceVersion(), "Alert": alert.GetResourceVersion()}

	p := startController(t, kube)
	waitPolicy(ctx, t, c, f.namespace, f.name, func(p *v1alpha1.ImagePolicy) bool { return p.Status.LatestRef != nil })
	head, _ := waitRef(t, f.bare, "main", f.push("1.1.0"), 60*time.Second)
	rev := "main@sha1:" + head
	want := []sinkEvent{
		{"ImagePolicy", f.name, "info", "NewSelection", rev, "hoist"},
		{"ImageUpdateAutomation", "fleet", "info", "Pushed", rev, "hoist"},
	}
	waitFor(ctx, t, "the Provider's events", func() bool { return len(sinkEvents(hook)) >= len(want) })
	if diff := cmp.Diff(want, sinkEvents(hook)); diff != "" {
		t.Errorf("events at the Provider (-want +got):\n%s", diff)
	}
	if _, paths, bad := hook.got(); len(bad) > 0 || paths[0] != "/hook" {
		t.Errorf("requests at %v; bad signatures or bodies: %q", paths, bad)
	}
	if got := sinkEvents(wrong); len(got) > 0 {
		t.Errorf("the other namespace's Secret was used: %v", got)
	}
	for _, u := range []*unstructured.Unstructured{provider, alert} {
		got := u.DeepCopy()
		if err := c.Get(ctx, client.ObjectKeyFromObject(u), got); err != nil {
			t.Fatal(err)
		}
		if got.GetResourceVersion() != versions[u.GetKind()] || got.Object["status"] != nil {
			t.Errorf("the %s was written: resourceVersion %s, then %s; status %v", u.GetKind(), versions[u.GetKind()], got.GetResourceVersion(), got.Object["status"])
		}
	}
	if strings.Contains(p.logs(), "hmac-key") || strings.Contains(p.logs(), hook.URL+"/hook") {
		t.Errorf("the Provider's secret leaked into the logs")
	}
	p.stop()

	// With --events-addr: the events go there, not to the Provider.
	p = startController(t, kube, "--events-addr", forwarded.URL+"/")
	waitPolicy(ctx, t, c, f.namespace, f.name, func(p *v1alpha1.ImagePolicy) bool {
		return p.Status.LatestRef != nil && p.Status.LatestRef.Tag == "1.1.0"
	})
	head, _ = waitRef(t, f.bare, "main", f.push("1.2.0"), 60*time.Second)
	rev = "main@sha1:" + head
	want2 := []sinkEvent{
		{"ImagePolicy", f.name, "info", "NewSelection", rev, "hoist"},
		{"ImageUpdateAutomation", "fleet", "info", "Pushed", rev, "hoist"},
	}
	waitFor(ctx, t, "the events at --events-addr", func() bool { return len(sinkEvents(forwarded)) >= len(want2) })
	if diff := cmp.Diff(want2, sinkEvents(forwarded)); diff != "" {
		t.Errorf("events at --events-addr (-want +got):\n%s", diff)
	}
	events, _, _ := forwarded.got()
	if o, _ := events[0]["involvedObject"].(map[string]any); o["namespace"] != f.namespace || o["apiVersion"] != v1alpha1.APIVersion || events[0]["timestamp"] == nil || events[0]["message"] == "" {
		t.Errorf("not Flux's event format: %v", events[0])
	}
	// The events of one run go out together: the Provider would have had
	// them by now.
	if diff := cmp.Diff(want, sinkEvents(hook)); diff != "" {
		t.Errorf("the Provider got events with --events-addr (-want +got):\n%s", diff)
	}
	p.stop()
}

// TestControllerNotificationCRDsInstalledLater runs `hoist controller` on
// an API server without the CustomResourceDefinitions of Flux's Provider
// and Alert, then installs them: a Provider and an Alert created then get
// the next selection's event, without a restart. Removed, the kinds are no
// longer watched, and the loop goes on.
func TestControllerNotificationCRDsInstalledLater(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := kube.Client
	f := newFleet(t, fleetOptions{first: "1.0.0", semver: ">=1.0.0", repoInterval: "1s"})
	applyFleet(ctx, t, c, f, nil)
	hook := newEventSink(t, "")

	p := startController(t, kube)
	for _, kind := range []string{"Providers", "Alerts"} {
		p.waitLog("not watching Flux's "+kind+" yet", time.Minute)
	}
	waitPolicy(ctx, t, c, f.namespace, f.name, func(p *v1alpha1.ImagePolicy) bool { return p.Status.LatestRef != nil })

	data, err := os.ReadFile(filepath.Join(notificationCRDs, "notification.toolkit.fluxcd.io.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crds []*unstructured.Unstructured
	for doc := range strings.SplitSeq(string(data), "\n---") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			crds = append(crds, u)
			create(ctx, t, c, u)
		}
	}
	for _, kind := range []string{"Providers", "Alerts"} {
		p.waitLog("CustomResourceDefinition installed: watching Flux's "+kind, time.Minute)
	}

	create(ctx, t, c, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.namespace, Name: "hook"},
		StringData: map[string]string{"address": hook.URL + "/hook"},
	})
	create(ctx, t, c, fluxObject("Provider", f.namespace, "hook", map[string]any{"type": "generic", "secretRef": map[string]any{"name": "hook"}}))
	create(ctx, t, c, fluxObject("Alert", f.namespace, "images", map[string]any{
		"providerRef":  map[string]any{"name": "hook"},
		"eventSources": []any{map[string]any{"kind": "ImagePolicy", "name": "*"}},
	}))
	// Once a configuration with the Alert is applied, the next selection
	// is sent.
	waitFor(ctx, t, "a configuration with the Alert", func() bool {
		return strings.Contains(p.logs(), "alerts=1") || strings.Contains(p.logs(), `"alerts":1`)
	})
	head, _ := waitRef(t, f.bare, "main", f.push("1.1.0"), 60*time.Second)
	want := []sinkEvent{{"ImagePolicy", f.name, "info", "NewSelection", "main@sha1:" + head, "hoist"}}
	waitFor(ctx, t, "the Provider's event", func() bool { return len(sinkEvents(hook)) >= len(want) })
	if diff := cmp.Diff(want, sinkEvents(hook)); diff != "" {
		t.Errorf("events at the Provider (-want +got):\n%s", diff)
	}

	for _, crd := range crds {
		if err := c.Delete(ctx, crd); err != nil {
			t.Fatal(err)
		}
	}
	for _, kind := range []string{"Providers", "Alerts"} {
		p.waitLog("CustomResourceDefinition gone: no longer watching Flux's "+kind, time.Minute)
	}
	// The loop goes on without them.
	waitRef(t, f.bare, "main", f.push("1.2.0"), 60*time.Second)
	p.stop()
}
