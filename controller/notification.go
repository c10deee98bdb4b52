package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/hoist-dev/hoist/config/notification/v1beta3"
	"github.com/hoist-dev/hoist/notify"
)

// NotificationGroup is the API group of Flux's notification-controller,
// whose Providers and Alerts hoist reads (never writes) when their
// CustomResourceDefinitions are served.
const NotificationGroup = "notification.toolkit.fluxcd.io"

// notificationVersions are the versions of Provider and Alert that are
// read, the preferred first: the first one the API server serves is
// watched.
var notificationVersions = []string{"v1beta3", "v1beta2"}

// servedNotificationKinds are Provider and Alert at the first version of
// notificationVersions the API server serves; a kind it does not serve is
// left out.
func servedNotificationKinds(m apimeta.RESTMapper) ([]schema.GroupVersionKind, error) {
	var out []schema.GroupVersionKind
	for _, kind := range []string{v1beta3.ProviderKind, v1beta3.AlertKind} {
		for _, v := range notificationVersions {
			gvk := schema.GroupVersionKind{Group: NotificationGroup, Version: v, Kind: kind}
			_, err := m.RESTMapping(gvk.GroupKind(), gvk.Version)
			if apimeta.IsNoMatchError(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("looking up Flux's %s: %w", kind, err)
			}
			out = append(out, gvk)
			break
		}
	}
	return out, nil
}

// watchNotifications makes the notifications of the loop go where o says:
// with EventsAddr, every event is posted there (to Flux's
// notification-controller, which routes it by its Alerts) and Providers
// and Alerts are not read; without it, the Providers and Alerts of the API
// server, when their CustomResourceDefinitions are served, are documents
// of the configuration, watched (each change that matters syncs it, as for
// Argo CD's kinds), and hoist sends to the Providers itself. Either way
// the Providers' Secrets are read from the API server, in the Provider's
// namespace, when a notification is sent.
func (c *Controller) watchNotifications(mgr manager.Manager, o Options) error {
	r := o.Service.Runner
	if r == nil {
		return nil
	}
	opts := []notify.Option{notify.WithLogger(o.Logger), notify.WithSecrets(apiSecrets(mgr.GetAPIReader()))}
	if o.EventsAddr != "" {
		r.Notifier = notify.New(r.SecretsDir, append(opts, notify.WithEventsAddr(o.EventsAddr))...)
		c.log.Info("posting events to --events-addr; Providers and Alerts are not read (notification-controller routes the events)", "eventsAddr", redactAddr(o.EventsAddr))
		return nil
	}
	r.Notifier = notify.New(r.SecretsDir, opts...)
	kinds, err := servedNotificationKinds(mgr.GetRESTMapper())
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if len(kinds) < 2 {
		c.log.Info("not sending notifications: the API server does not serve Flux's Provider and Alert (install the CustomResourceDefinitions of notification-controller and restart)", "group", NotificationGroup)
		return nil
	}
	reader := mgr.GetCache()
	c.docs.extra = append(c.docs.extra, func(ctx context.Context) ([]object, error) { return listNotifications(ctx, reader, kinds) })
	for _, gvk := range kinds {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		rec := &reconciler{c: c, kind: gvk.Kind, reconcile: func(context.Context, objectKey) error { return nil }}
		err := builder.ControllerManagedBy(mgr).
			Named(gvk.Kind).
			// counted: a change makes the next sync list again.
			// argoChanged compares the spec, labels and
			// annotations, whether or not the kind has a status
			// subresource (Flux's v1beta3 kinds have no status).
			For(u, builder.WithPredicates(c.counted(argoChanged{}))).
			WithOptions(crcontroller.Options{MaxConcurrentReconciles: 1}).
			Complete(rec)
		if err != nil {
			return fmt.Errorf("controller: registering the %s reconciler: %w", gvk.Kind, err)
		}
	}
	c.log.Info("sending notifications of Flux's Providers and Alerts", "provider", kinds[0].GroupVersion().String(), "alert", kinds[1].GroupVersion().String())
	return nil
}

// listNotifications reads the Providers and Alerts of kinds from the
// cache as documents: apiVersion, kind, the metadata the fingerprint and
// the configuration read, and the spec.
func listNotifications(ctx context.Context, c client.Reader, kinds []schema.GroupVersionKind) ([]object, error) {
	var out []object
	for _, gvk := range kinds {
		var l unstructured.UnstructuredList
		l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, &l); err != nil {
			return nil, fmt.Errorf("listing Flux's %ss: %w", gvk.Kind, err)
		}
		for i := range l.Items {
			in := &l.Items[i]
			doc := &unstructured.Unstructured{Object: map[string]any{}}
			doc.SetGroupVersionKind(gvk)
			doc.SetName(in.GetName())
			doc.SetNamespace(in.GetNamespace())
			doc.SetUID(in.GetUID())
			doc.SetGeneration(in.GetGeneration())
			doc.SetLabels(in.GetLabels())
			if spec, ok := in.Object["spec"]; ok {
				doc.Object["spec"] = runtimeCopy(spec)
			}
			out = append(out, object{objectKey{gvk.Kind, doc.GetNamespace(), doc.GetName()}, doc})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key.String() < out[j].key.String() })
	return out, nil
}

// apiSecrets reads a Provider's Secret from the API server, in the
// Provider's namespace, when a notification is sent: the keys of
// notify.SecretKeys, never written to disk.
func apiSecrets(r client.Reader) notify.SecretReader {
	return func(ctx context.Context, namespace, name string) (map[string]string, error) {
		var sec corev1.Secret
		k := types.NamespacedName{Namespace: namespace, Name: name}
		if err := r.Get(ctx, k, &sec); err != nil {
			return nil, fmt.Errorf("reading Secret %s: %w", k, err)
		}
		out := map[string]string{}
		for _, key := range notify.SecretKeys {
			v, ok := sec.Data[key]
			if !ok {
				continue
			}
			if key == "headers" {
				out[key] = string(v)
			} else {
				out[key] = strings.TrimSpace(string(v))
			}
		}
		return out, nil
	}
}

// redactAddr is an address without what may be secret in it: its user
// information, path and query.
func redactAddr(addr string) string {
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok {
		return "(not a URL)"
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	return scheme + "://" + rest
}
