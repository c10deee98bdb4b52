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
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	crsource "sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/hoist-dev/hoist/config/notification/v1beta3"
	"github.com/hoist-dev/hoist/notify"
)

// NotificationGroup is the API group of Flux's notification-controller,
// whose Providers and Alerts hoist reads (never writes) when their
// CustomResourceDefinitions are served.
const NotificationGroup = "notification.toolkit.fluxcd.io"

// notificationVersions are the versions of Provider and Alert that are
// read, the preferred first: the first one the API server serves is
// watched; the first of all when it serves none yet (its CRD installed
// later).
var notificationVersions = []string{"v1beta3", "v1beta2"}

// notificationKinds are Provider and Alert, each at the first version of
// notificationVersions the API server serves, or at the first of them when
// it serves none.
func notificationKinds(m apimeta.RESTMapper) ([]schema.GroupVersionKind, error) {
	var out []schema.GroupVersionKind
	for _, kind := range []string{v1beta3.ProviderKind, v1beta3.AlertKind} {
		gvk := schema.GroupVersionKind{Group: NotificationGroup, Version: notificationVersions[0], Kind: kind}
		for _, v := range notificationVersions {
			served := schema.GroupVersionKind{Group: NotificationGroup, Version: v, Kind: kind}
			_, err := m.RESTMapping(served.GroupKind(), served.Version)
			if apimeta.IsNoMatchError(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("looking up Flux's %s: %w", kind, err)
			}
			gvk = served
			break
		}
		out = append(out, gvk)
	}
	return out, nil
}

// notificationCRDs are the names of the CustomResourceDefinitions of
// Provider and Alert.
var notificationCRDs = map[string]string{
	v1beta3.ProviderKind: "providers." + NotificationGroup,
	v1beta3.AlertKind:    "alerts." + NotificationGroup,
}

// watchNotifications makes the notifications of the loop go where o says:
// with EventsAddr, every event is posted there (to Flux's
// notification-controller, which routes it by its Alerts) and Providers
// and Alerts are not read; without it, the Providers and Alerts of the API
// server are documents of the configuration while their
// CustomResourceDefinitions are installed (the optional kinds it returns,
// followed by watchOptional: installed after hoist, or removed, without a
// restart), watched (each change that matters syncs it, as for Argo CD's
// kinds), and hoist sends to the Providers itself. Either way the
// Providers' Secrets are read from the API server, in the Provider's
// namespace, when a notification is sent.
func (c *Controller) watchNotifications(mgr manager.Manager, o Options) ([]*optionalKind, error) {
	r := o.Service.Runner
	if r == nil {
		return nil, nil
	}
	opts := []notify.Option{notify.WithLogger(o.Logger), notify.WithSecrets(apiSecrets(mgr.GetAPIReader()))}
	if o.EventsAddr != "" {
		r.Notifier = notify.New(r.SecretsDir, append(opts, notify.WithEventsAddr(o.EventsAddr))...)
		c.log.Info("posting events to --events-addr; Providers and Alerts are not read (notification-controller routes the events)", "eventsAddr", redactAddr(o.EventsAddr))
		return nil, nil
	}
	r.Notifier = notify.New(r.SecretsDir, opts...)
	gvks, err := notificationKinds(mgr.GetRESTMapper())
	if err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	var kinds []*optionalKind
	for _, gvk := range gvks {
		k := &optionalKind{gvk: gvk, crd: notificationCRDs[gvk.Kind], what: "Flux's " + gvk.Kind + "s"}
		rec := &reconciler{c: c, kind: gvk.Kind, reconcile: func(context.Context, objectKey) error { return nil }}
		ctl, err := crcontroller.New(gvk.Kind, mgr, crcontroller.Options{Reconciler: rec, MaxConcurrentReconciles: 1})
		if err != nil {
			return nil, fmt.Errorf("controller: registering the %s reconciler: %w", gvk.Kind, err)
		}
		k.watch = func(ctx context.Context) error {
			// The informer, started and listed (once the cache is):
			// the documents listed next have the objects.
			if _, err := c.informers.GetInformer(ctx, k.object()); err != nil {
				return err
			}
			// counted: a change makes the next sync list again.
			// argoChanged compares the spec, labels and annotations,
			// whether or not the kind has a status subresource
			// (Flux's v1beta3 kinds have no status).
			return ctl.Watch(crsource.Kind[client.Object](c.informers, k.object(), &handler.EnqueueRequestForObject{}, c.counted(argoChanged{})))
		}
		k.changed = c.sync
		kinds = append(kinds, k)
	}
	reader := mgr.GetCache()
	c.docs.extra = append(c.docs.extra, func(ctx context.Context) ([]object, error) {
		var objs []object
		err := readServed(kinds, func(served []schema.GroupVersionKind) error {
			var err error
			objs, err = listNotifications(ctx, reader, served)
			return err
		})
		return objs, err
	})
	c.log.Info("sending notifications of Flux's Providers and Alerts while their CustomResourceDefinitions are installed", "provider", gvks[0].GroupVersion().String(), "alert", gvks[1].GroupVersion().String())
	return kinds, nil
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
