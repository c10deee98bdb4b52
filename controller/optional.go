package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	crcache "sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	crsource "sigs.k8s.io/controller-runtime/pkg/source"
)

// optionalKind is a kind of another project (Flux's GitRepository, Argo
// CD's Application, Argo CD Image Updater's ImageUpdater) that hoist reads
// while its CustomResourceDefinition is installed: its objects are watched
// and read from the cache while the CRD serves its version, and not
// otherwise. The controller follows each CRD (watchOptional), so that the
// other project installed after hoist, or removed, is seen without a
// restart.
type optionalKind struct {
	// gvk is the kind, at the version read; crd is the name of its
	// CustomResourceDefinition (PLURAL.GROUP).
	gvk schema.GroupVersionKind
	crd string
	// what names the objects in the logs: "Flux's GitRepositories".
	what string
	// watch starts watching the objects, when the CRD becomes served:
	// their informer (of the manager's cache) and the watches of the
	// controllers that use them. It returns once the informer has listed
	// them.
	watch func(context.Context) error
	// changed, when set, is called after the kind started or stopped
	// being served (the documents are listed again on the next sync):
	// it reconciles what depends on the kind.
	changed func(context.Context) error

	// served says that the kind is watched: its objects are documents.
	served atomic.Bool
	// mu is held for reading while the objects are read from the cache
	// (read), and for writing while served is set: a read never meets a
	// removed informer (the cache would start a new one, whose list fails
	// until the CRD is back).
	mu sync.RWMutex
	// crdCache holds the CRD alone (a field selector on its name, which
	// RBAC can grant by resourceNames); nil where hoist may not read it.
	crdCache crcache.Cache
}

// isServed reports whether k is watched; a nil k is not.
func (k *optionalKind) isServed() bool { return k != nil && k.served.Load() }

// read calls f, which reads k's objects from the cache, when k is watched.
func (k *optionalKind) read(f func() error) error {
	if k == nil {
		return nil
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if !k.served.Load() {
		return nil
	}
	return f()
}

// readServed calls f with the kinds of ks that are watched, holding them
// so while f reads their objects from the cache.
func readServed(ks []*optionalKind, f func([]schema.GroupVersionKind) error) error {
	var served []schema.GroupVersionKind
	for _, k := range ks { // always in the same order: no two readers lock in turn
		k.mu.RLock()
		defer k.mu.RUnlock()
		if k.served.Load() {
			served = append(served, k.gvk)
		}
	}
	return f(served)
}

// object is an empty object of k, unstructured, for the cache.
func (k *optionalKind) object() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(k.gvk)
	return u
}

// servedBy reports whether the API server serves k, as m knows it.
func (k *optionalKind) servedBy(m apimeta.RESTMapper) (bool, error) {
	_, err := m.RESTMapping(k.gvk.GroupKind(), k.gvk.Version)
	switch {
	case apimeta.IsNoMatchError(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("looking for the CustomResourceDefinition %s: %w", k.crd, err)
	}
	return true, nil
}

// setServed starts (on) or stops watching k's objects. Stopping removes
// their informer, whose list and watch would fail from then on.
//
// setServed is called for one kind by one goroutine at a time: New, then
// the reconciler of the CRDs, which reconciles one CRD at a time.
func (c *Controller) setServed(ctx context.Context, k *optionalKind, on bool) error {
	if on == k.served.Load() {
		return nil
	}
	if !on {
		k.mu.Lock()
		defer k.mu.Unlock()
		k.served.Store(false)
		if err := c.informers.RemoveInformer(ctx, k.object()); err != nil {
			return fmt.Errorf("stopping the watch of %s: %w", k.what, err)
		}
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := k.watch(wctx); err != nil {
		// The informer that did not list them (the CRD went meanwhile)
		// is stopped; the next reconcile of the CRD tries again.
		if rerr := c.informers.RemoveInformer(ctx, k.object()); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return fmt.Errorf("watching %s: %w", k.what, err)
	}
	k.mu.Lock()
	k.served.Store(true)
	k.mu.Unlock()
	return nil
}

// watchOptional watches the kinds ks as their CRDs come and go: those
// served now are watched at once, and one reconciler follows their CRDs,
// each read by name from a cache of its own, and starts and stops the
// watch of a kind as its CRD is installed and removed, without a restart.
// Where hoist may not read a CRD (RBAC: a controller limited to Roles in
// its namespaces, or a ClusterRole that names other CRDs only), its kind
// is looked for when the controller starts only.
func (c *Controller) watchOptional(mgr manager.Manager, ks []*optionalKind) error {
	c.optional = ks
	var sources []crsource.Source
	for _, k := range ks {
		served, err := k.servedBy(mgr.GetRESTMapper())
		if err != nil {
			return fmt.Errorf("controller: %w", err)
		}
		if err := c.setServed(context.Background(), k, served); err != nil {
			return fmt.Errorf("controller: %w", err)
		}
		readable, err := c.crdReadable(mgr.GetAPIReader(), k)
		if err != nil {
			return err
		}
		switch {
		case !readable && !served:
			c.log.Info("not watching "+k.what+": the CustomResourceDefinition is not installed, and RBAC grants no get, list, watch on it, so it is looked for at start only; restart hoist after installing it", "crd", k.crd)
			continue
		case !readable:
			c.log.Info("not following the CustomResourceDefinition of "+k.what+" (RBAC grants no get, list, watch on it): it is looked for at start only", "crd", k.crd)
			continue
		case !served:
			c.log.Info("not watching "+k.what+" yet: the CustomResourceDefinition is not installed; they are watched once it is", "crd", k.crd)
		}
		k.crdCache, err = crcache.New(mgr.GetConfig(), crcache.Options{
			HTTPClient: mgr.GetHTTPClient(), Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
			ByObject: map[client.Object]crcache.ByObject{newCRD(): {Field: fields.OneTermEqualSelector("metadata.name", k.crd)}},
		})
		if err != nil {
			return fmt.Errorf("controller: the cache of CustomResourceDefinition %s: %w", k.crd, err)
		}
		if err := mgr.Add(k.crdCache); err != nil {
			return fmt.Errorf("controller: %w", err)
		}
		sources = append(sources, crsource.Kind[client.Object](k.crdCache, newCRD(), &handler.EnqueueRequestForObject{}))
	}
	if len(sources) == 0 {
		return nil
	}
	// One CRD at a time (a workqueue never hands out one key twice at
	// once), several CRDs at once: a kind slow to list does not hold
	// the others back.
	b := builder.ControllerManagedBy(mgr).
		Named("CustomResourceDefinition").
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: len(sources)})
	for _, s := range sources {
		b = b.WatchesRawSource(s)
	}
	if err := b.Complete(reconcile.Func(c.reconcileCRD)); err != nil {
		return fmt.Errorf("controller: registering the CustomResourceDefinition reconciler: %w", err)
	}
	return nil
}

// readOptional calls read, which reads objects of gvk from the cache: when
// gvk is an optional kind, only while it is watched (the cache would
// otherwise start an informer of its own, whose list blocks the read until
// the CRD is back); an error says that it is not.
func (c *Controller) readOptional(gvk schema.GroupVersionKind, read func() error) error {
	for _, k := range c.optional {
		if k.gvk != gvk {
			continue
		}
		watched := false
		err := k.read(func() error {
			watched = true
			return read()
		})
		if !watched {
			return fmt.Errorf("%s are not watched: the CustomResourceDefinition %s is not installed", k.what, k.crd)
		}
		return err
	}
	return read()
}

// crdReadable reports whether hoist may read k's CRD.
func (c *Controller) crdReadable(r client.Reader, k *optionalKind) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch err := r.Get(ctx, client.ObjectKey{Name: k.crd}, newCRD()); {
	case err == nil, apierrors.IsNotFound(err):
		return true, nil
	case apierrors.IsForbidden(err):
		return false, nil
	default:
		return false, fmt.Errorf("controller: reading CustomResourceDefinition %s: %w", k.crd, err)
	}
}

// reconcileCRD follows the CRD of an optional kind: served, its objects
// are watched and read; not (removed, or being removed), they are not.
// What depends on the kind is reconciled again when that changes.
func (c *Controller) reconcileCRD(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var k *optionalKind
	for _, o := range c.optional {
		if o.crd == req.Name && o.crdCache != nil {
			k = o
		}
	}
	if k == nil {
		return reconcile.Result{}, nil
	}
	crd := newCRD()
	served := false
	switch err := k.crdCache.Get(ctx, req.NamespacedName, crd); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return reconcile.Result{}, fmt.Errorf("reading CustomResourceDefinition %s: %w", req.Name, err)
	default:
		served = crdServes(crd, k.gvk.Version)
	}
	if served == k.served.Load() {
		return reconcile.Result{}, nil
	}
	if err := c.setServed(ctx, k, served); err != nil {
		return reconcile.Result{}, err
	}
	if served {
		c.log.Info("CustomResourceDefinition installed: watching "+k.what, "crd", k.crd)
	} else {
		c.log.Info("CustomResourceDefinition gone: no longer watching "+k.what, "crd", k.crd)
	}
	c.docs.changes.Add(1) // the next sync lists again
	if k.changed == nil {
		return reconcile.Result{}, nil
	}
	return reconcile.Result{}, k.changed(ctx)
}

// crdGVK is the CustomResourceDefinition kind, read as unstructured.
var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// newCRD is an empty CustomResourceDefinition, for the cache.
func newCRD() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(crdGVK)
	return u
}

// crdServes reports whether crd, a CustomResourceDefinition, is
// established, not being deleted, and serves version.
func crdServes(crd *unstructured.Unstructured, version string) bool {
	if crd.GetDeletionTimestamp() != nil {
		return false
	}
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	established := false
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			established = true
		}
	}
	if !established {
		return false
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if m["name"] == version && m["served"] == true {
			return true
		}
	}
	return false
}
