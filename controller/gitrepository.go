package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	crsource "sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/writeback/git"
)

// FluxGitRepository is Flux's GitRepository (source-controller), which an
// ImageUpdateAutomation's spec.sourceRef may name. hoist reads its url,
// ref and secretRef when its CRD is installed, and never writes it.
var FluxGitRepository = schema.GroupVersionKind{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: v1alpha1.GitRepositoryKind}

// sourceRefIndex is the field index of ImageUpdateAutomations by the
// GitRepository they name (NAMESPACE/NAME).
const sourceRefIndex = ".hoist.dev.sourceRef"

// errNoFluxGitRepository is the problem of an automation whose sourceRef
// names a Flux GitRepository when Flux's CRD is not installed.
var errNoFluxGitRepository = errors.New("the GitRepository CRD of Flux (gitrepositories.source.toolkit.fluxcd.io, v1) is not installed in the cluster: install Flux's source-controller, or name a hoist.dev GitRepository, or set spec.git.url instead")

// fluxGitRepositoryCRD is the name of Flux's GitRepository
// CustomResourceDefinition, which the controller watches to start and stop
// watching Flux's GitRepositories as it is installed and removed.
const fluxGitRepositoryCRD = "gitrepositories.source.toolkit.fluxcd.io"

// crdGVK is the CustomResourceDefinition kind, read as unstructured.
var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// newCRD is an empty CustomResourceDefinition, for the cache.
func newCRD() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(crdGVK)
	return u
}

// fluxGitRepositoryServed reports whether the API server serves Flux's
// GitRepository.
func fluxGitRepositoryServed(m apimeta.RESTMapper) (bool, error) {
	_, err := m.RESTMapping(FluxGitRepository.GroupKind(), FluxGitRepository.Version)
	switch {
	case apimeta.IsNoMatchError(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("looking for Flux's GitRepository CRD: %w", err)
	}
	return true, nil
}

// sourceRefOf is the GitRepository an automation names, NAMESPACE/NAME, or
// "".
func sourceRefOf(obj client.Object) []string {
	a, ok := obj.(*v1alpha1.ImageUpdateAutomation)
	if !ok || a.Spec.SourceRef == nil || a.Spec.SourceRef.Name == "" {
		return nil
	}
	r := a.Spec.SourceRef
	if r.Kind != "" && r.Kind != v1alpha1.GitRepositoryKind {
		return nil
	}
	ns := r.Namespace
	if ns == "" {
		ns = a.Namespace
	}
	return []string{ns + "/" + r.Name}
}

// newFluxGitRepository is an empty Flux GitRepository, for the cache.
func newFluxGitRepository() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(FluxGitRepository)
	return u
}

// listFluxGitRepositories reads Flux's GitRepositories from the cache as
// documents: apiVersion, kind, the metadata the fingerprint and the
// configuration read, and of the spec only url, ref and secretRef (the
// fields hoist acts on; Flux's others are source-controller's business).
func listFluxGitRepositories(ctx context.Context, c client.Reader) ([]object, error) {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(FluxGitRepository.GroupVersion().WithKind(FluxGitRepository.Kind + "List"))
	if err := c.List(ctx, l); err != nil {
		return nil, fmt.Errorf("listing Flux's GitRepositories: %w", err)
	}
	out := make([]object, 0, len(l.Items))
	for i := range l.Items {
		in := &l.Items[i]
		doc := newFluxGitRepository()
		doc.SetName(in.GetName())
		doc.SetNamespace(in.GetNamespace())
		doc.SetUID(in.GetUID())
		doc.SetGeneration(in.GetGeneration())
		doc.SetLabels(in.GetLabels())
		spec := map[string]any{}
		if url, _, _ := unstructured.NestedString(in.Object, "spec", "url"); url != "" {
			spec["url"] = url
		}
		if ref, ok, _ := unstructured.NestedStringMap(in.Object, "spec", "ref"); ok {
			r := map[string]any{}
			for _, k := range []string{"branch", "name", "tag", "semver", "commit"} {
				if v := ref[k]; v != "" {
					r[k] = v
				}
			}
			spec["ref"] = r
		}
		if n, _, _ := unstructured.NestedString(in.Object, "spec", "secretRef", "name"); n != "" {
			spec["secretRef"] = map[string]any{"name": n}
		}
		doc.Object["spec"] = spec
		out = append(out, object{objectKey{v1alpha1.GitRepositoryKind, doc.GetNamespace(), doc.GetName()}, doc})
	}
	return out, nil
}

// gitRepositoryUsers maps a Flux GitRepository to the automations that
// name it.
func gitRepositoryUsers(c client.Reader) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, g client.Object) []reconcile.Request {
		var l v1alpha1.ImageUpdateAutomationList
		if err := c.List(ctx, &l, client.MatchingFields{sourceRefIndex: g.GetNamespace() + "/" + g.GetName()}); err != nil {
			return nil
		}
		out := make([]reconcile.Request, 0, len(l.Items))
		for i := range l.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&l.Items[i])})
		}
		return out
	}
}

// noFluxGitRepository replaces, in invalid, the problem of each automation
// of objs whose sourceRef names a Flux GitRepository (its apiVersion is
// Flux's) that cannot exist, as Flux's CRD is not installed, with one that
// says so.
func noFluxGitRepository(objs []object, invalid map[objectKey]*config.Error) {
	for _, o := range objs {
		a, ok := o.obj.(*v1alpha1.ImageUpdateAutomation)
		if !ok || len(sourceRefOf(o.obj)) == 0 || !isFluxSource(a.Spec.SourceRef.APIVersion) {
			continue
		}
		e := invalid[o.key]
		if e == nil || e.Field != "spec.sourceRef.name" {
			continue
		}
		invalid[o.key] = &config.Error{File: e.File, Line: e.Line, Field: "spec.sourceRef", Err: errNoFluxGitRepository}
	}
}

// gitRepositoryAutomations are the automations of objs that name one of the
// GitRepositories among users.
func gitRepositoryAutomations(objs []object, users []objectKey) []objectKey {
	named := map[string]bool{}
	for _, u := range users {
		if u.Kind == v1alpha1.GitRepositoryKind {
			named[u.Namespace+"/"+u.Name] = true
		}
	}
	if len(named) == 0 {
		return nil
	}
	var out []objectKey
	for _, o := range objs {
		if r := sourceRefOf(o.obj); len(r) > 0 && named[r[0]] {
			out = append(out, o.key)
		}
	}
	return out
}

// isFluxSource reports whether apiVersion is one of Flux's source group.
func isFluxSource(apiVersion string) bool {
	group, _, _ := strings.Cut(apiVersion, "/")
	return group == FluxGitRepository.Group
}

// unshadowed are the Flux GitRepositories of gits that no hoist.dev
// GitRepository of objs has the namespace and name of: where both exist,
// hoist's is the one automations use.
func unshadowed(gits, objs []object) []object {
	ours := map[objectKey]bool{}
	for _, o := range objs {
		if o.key.Kind == v1alpha1.GitRepositoryKind {
			ours[o.key] = true
		}
	}
	out := gits[:0:0]
	for _, g := range gits {
		if !ours[g.key] {
			out = append(out, g)
		}
	}
	return out
}

// automationSecretUsers adds to users (the automations that name a
// Secret) the automations whose Flux GitRepository names it, while Flux's
// CRD is installed. (A hoist.dev GitRepository's Secret reconciles the
// GitRepository, and a change of its value runs the automations that name
// it: documents.publish.)
func (c *Controller) automationSecretUsers(users func(context.Context, client.Object) []reconcile.Request) func(context.Context, client.Object) []reconcile.Request {
	viaGit := gitRepositoryUsers(c.cache)
	return func(ctx context.Context, sec client.Object) []reconcile.Request {
		out := users(ctx, sec)
		_ = c.docs.withFluxGit(func() error {
			l := &unstructured.UnstructuredList{}
			l.SetGroupVersionKind(FluxGitRepository.GroupVersion().WithKind(FluxGitRepository.Kind + "List"))
			if err := c.cache.List(ctx, l, client.InNamespace(sec.GetNamespace()), client.MatchingFields{secretIndex: sec.GetName()}); err != nil {
				return err
			}
			for i := range l.Items {
				out = append(out, viaGit(ctx, &l.Items[i])...)
			}
			if len(l.Items) > 0 {
				c.docs.changes.Add(1)
			}
			return nil
		})
		return out
	}
}

// setFluxGit starts (on) or stops watching Flux's GitRepositories, as
// their CRD is installed or removed: their informer, indexed by Secret, a
// watch of the automations' controller that reconciles the automations
// naming one, and their listing as documents. Stopping removes the
// informer, whose list and watch would fail from then on.
//
// setFluxGit is called by one goroutine at a time: New, then the one
// reconciler of the CRD.
func (c *Controller) setFluxGit(ctx context.Context, on bool) error {
	if on == c.docs.fluxGit.Load() {
		return nil
	}
	if !on {
		c.docs.fluxMu.Lock()
		defer c.docs.fluxMu.Unlock()
		c.docs.fluxGit.Store(false)
		if err := c.informers.RemoveInformer(ctx, newFluxGitRepository()); err != nil {
			return fmt.Errorf("stopping the watch of Flux's GitRepositories: %w", err)
		}
		return nil
	}
	// Indexing starts the informer (once the cache is), and waits until it
	// has listed them: the documents listed next have them.
	ictx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.informers.IndexField(ictx, newFluxGitRepository(), secretIndex, secretNames); err != nil {
		return fmt.Errorf("indexing Flux's GitRepositories by Secret: %w", err)
	}
	src := crsource.Kind[client.Object](c.informers, newFluxGitRepository(), handler.EnqueueRequestsFromMapFunc(gitRepositoryUsers(c.cache)), c.changed)
	if err := c.automations.Watch(src); err != nil {
		return fmt.Errorf("watching Flux's GitRepositories: %w", err)
	}
	c.docs.fluxMu.Lock()
	c.docs.fluxGit.Store(true)
	c.docs.fluxMu.Unlock()
	return nil
}

// watchFluxCRD registers the reconciler of Flux's GitRepository CRD, which
// starts and stops the watch of Flux's GitRepositories as the CRD is
// installed and removed, without a restart. Where hoist may not read the
// CRD (RBAC: a controller limited to Roles in its namespaces), the CRD is
// looked for when the controller starts only.
func (c *Controller) watchFluxCRD(mgr manager.Manager) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch err := mgr.GetAPIReader().Get(ctx, client.ObjectKey{Name: fluxGitRepositoryCRD}, newCRD()); {
	case err == nil, apierrors.IsNotFound(err):
	case apierrors.IsForbidden(err):
		// The message names no error: the RBAC of the namespaced
		// installs is meant to be so.
		c.log.Info("not watching Flux's GitRepository CRD (RBAC grants no get, list, watch on it): it is looked for at start only; restart hoist after installing Flux", "crd", fluxGitRepositoryCRD)
		return nil
	default:
		return fmt.Errorf("controller: reading CustomResourceDefinition %s: %w", fluxGitRepositoryCRD, err)
	}
	named := predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetName() == fluxGitRepositoryCRD })
	err := builder.ControllerManagedBy(mgr).
		Named("CustomResourceDefinition").
		For(newCRD(), builder.WithPredicates(named)).
		WithOptions(crcontroller.Options{MaxConcurrentReconciles: 1}).
		Complete(reconcile.Func(c.reconcileFluxCRD))
	if err != nil {
		return fmt.Errorf("controller: registering the CustomResourceDefinition reconciler: %w", err)
	}
	return nil
}

// reconcileFluxCRD follows Flux's GitRepository CRD: served, Flux's
// GitRepositories are watched and read; not (removed, or being removed),
// they are not, and an automation naming one says that the CRD is not
// installed. The automations that name a GitRepository are reconciled
// again when that changes.
func (c *Controller) reconcileFluxCRD(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	if req.Name != fluxGitRepositoryCRD {
		return reconcile.Result{}, nil
	}
	crd := newCRD()
	served := false
	switch err := c.cache.Get(ctx, req.NamespacedName, crd); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return reconcile.Result{}, fmt.Errorf("reading CustomResourceDefinition %s: %w", req.Name, err)
	default:
		served = crdServes(crd, FluxGitRepository.Version)
	}
	if served == c.docs.fluxGit.Load() {
		return reconcile.Result{}, nil
	}
	if err := c.setFluxGit(ctx, served); err != nil {
		return reconcile.Result{}, err
	}
	if served {
		c.log.Info("Flux's GitRepository CRD is installed: watching Flux's GitRepositories", "crd", fluxGitRepositoryCRD)
	} else {
		c.log.Info("Flux's GitRepository CRD is gone: no longer watching Flux's GitRepositories", "crd", fluxGitRepositoryCRD)
	}
	c.docs.changes.Add(1) // the next sync lists again
	var l v1alpha1.ImageUpdateAutomationList
	if err := c.cache.List(ctx, &l); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing ImageUpdateAutomations: %w", err)
	}
	for i := range l.Items {
		if len(sourceRefOf(&l.Items[i])) > 0 {
			c.notify(v1alpha1.ImageUpdateAutomationKind, &l.Items[i])
		}
	}
	return reconcile.Result{}, nil
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

// reconcileGitRepository writes the status of a hoist.dev GitRepository:
// Ready once it is part of the configuration, Stalled with the field when
// its spec is invalid. hoist fetches nothing on its own schedule: the
// automations that name it clone it, and report their runs.
func (c *Controller) reconcileGitRepository(ctx context.Context, k objectKey) error {
	var obj v1alpha1.GitRepository
	if err := c.get(ctx, k, &obj); err != nil {
		return err
	}
	if obj.Spec.Suspend {
		return nil
	}
	before := obj.DeepCopy()
	st := &obj.Status
	st.ObservedGeneration = obj.Generation
	var events []kevent
	if !c.invalid(k, &st.Conditions, obj.Generation, &events) {
		requested(&obj, &st.LastHandledReconcileAt) // nothing to do now: the automations clone it when they run
		setReady(&st.Conditions, obj.Generation, "valid: the automations that name it write to "+git.RedactURL(obj.Spec.URL))
	}
	return c.patchStatus(ctx, before, &obj, before.Status, obj.Status, events)
}
