package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
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
// CustomResourceDefinition (see fluxGitRepositories).
const fluxGitRepositoryCRD = "gitrepositories.source.toolkit.fluxcd.io"

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
		_ = c.docs.fluxGit.read(func() error {
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

// fluxGitRepositories is Flux's GitRepository as an optional kind: while
// its CRD is installed, Flux's GitRepositories are watched, indexed by
// Secret, and listed as documents, and a change of one reconciles the
// automations that name it; when the CRD comes or goes, those automations
// are reconciled again (without it, one whose sourceRef is Flux's says
// that the CRD is not installed).
func (c *Controller) fluxGitRepositories() *optionalKind {
	return &optionalKind{
		gvk: FluxGitRepository, crd: fluxGitRepositoryCRD, what: "Flux's GitRepositories",
		watch: func(ctx context.Context) error {
			// Indexing starts the informer (once the cache is), and
			// waits until it has listed them: the documents listed
			// next have them.
			if err := c.informers.IndexField(ctx, newFluxGitRepository(), secretIndex, secretNames); err != nil {
				return fmt.Errorf("indexing Flux's GitRepositories by Secret: %w", err)
			}
			src := crsource.Kind[client.Object](c.informers, newFluxGitRepository(), handler.EnqueueRequestsFromMapFunc(gitRepositoryUsers(c.cache)), c.changed)
			return c.automations.Watch(src)
		},
		changed: func(ctx context.Context) error {
			var l v1alpha1.ImageUpdateAutomationList
			if err := c.cache.List(ctx, &l); err != nil {
				return fmt.Errorf("listing ImageUpdateAutomations: %w", err)
			}
			for i := range l.Items {
				if len(sourceRefOf(&l.Items[i])) > 0 {
					c.notify(v1alpha1.ImageUpdateAutomationKind, &l.Items[i])
				}
			}
			return nil
		},
	}
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
