package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// ReasonAccessDenied: an ImagePolicy refers to an ImageRepository of
// another namespace whose spec.accessFrom does not admit the policy's
// namespace (Flux's reason).
const ReasonAccessDenied = "AccessDenied"

// crossNamespace checks each ImagePolicy of objs that refers to an
// ImageRepository of another namespace against that repository's
// spec.accessFrom, as Flux does: the policy's namespace must match one of
// its namespaceSelectors. It returns the objects without the policies
// refused, why each was refused, and a fingerprint of the decisions (they
// change with the namespaces' labels, which are not objects of objs).
// References in the same namespace, and those to a repository that does
// not exist (the configuration says so), are not its business.
func crossNamespace(ctx context.Context, api client.Reader, objs []object) (kept []object, denied map[objectKey]string, fp string, err error) {
	repos := map[types.NamespacedName]*v1alpha1.ImageRepository{}
	for _, o := range objs {
		if r, ok := o.obj.(*v1alpha1.ImageRepository); ok {
			repos[types.NamespacedName{Namespace: r.Namespace, Name: r.Name}] = r
		}
	}
	nsLabels := map[string]labels.Set{}
	nsErr := map[string]error{}
	var b strings.Builder
	denied = map[objectKey]string{}
	for _, o := range objs {
		p, ok := o.obj.(*v1alpha1.ImagePolicy)
		if !ok || p.Spec.ImageRepositoryRef.Namespace == "" || p.Spec.ImageRepositoryRef.Namespace == p.Namespace {
			kept = append(kept, o)
			continue
		}
		ref := types.NamespacedName{Namespace: p.Spec.ImageRepositoryRef.Namespace, Name: p.Spec.ImageRepositoryRef.Name}
		repo, ok := repos[ref]
		if !ok {
			kept = append(kept, o)
			continue
		}
		set, seen := nsLabels[p.Namespace]
		if !seen && api != nil {
			var ns corev1.Namespace
			if err := api.Get(ctx, client.ObjectKey{Name: p.Namespace}, &ns); err != nil && !apierrors.IsNotFound(err) {
				// Forbidden, say, with a Role per namespace and no
				// ClusterRole: the reference is refused, the rest goes on.
				nsErr[p.Namespace] = err
			}
			set = labels.Set(ns.Labels)
			nsLabels[p.Namespace] = set
		}
		why := access(repo, p.Namespace, set)
		if err := nsErr[p.Namespace]; err != nil && why == "" {
			why = fmt.Sprintf("spec.imageRepositoryRef: ImageRepository %s cannot be accessed from namespace %s: reading the labels of the namespace: %v", ref, p.Namespace, err)
		}
		fmt.Fprintf(&b, "%s -> %s: %q\n", fingerprint([]object{o}), ref, why)
		if why != "" {
			denied[o.key] = why
			continue
		}
		kept = append(kept, o)
	}
	return kept, denied, b.String(), nil
}

// access says why repo cannot be referred to from namespace ns, whose
// labels are set, or "" when it can.
func access(repo *v1alpha1.ImageRepository, ns string, set labels.Set) string {
	where := fmt.Sprintf("spec.imageRepositoryRef: ImageRepository %s/%s cannot be accessed from namespace %s", repo.Namespace, repo.Name, ns)
	if repo.Spec.AccessFrom == nil {
		return where + ": it has no spec.accessFrom, which cross-namespace references need"
	}
	if accessAllowed(repo.Spec.AccessFrom, set) {
		return ""
	}
	return where + ": its spec.accessFrom.namespaceSelectors match no label of the namespace"
}

// accessAllowed reports whether af admits a namespace whose labels are
// set: one of its namespaceSelectors matches them (an empty one matches
// every namespace), as Flux's accessFrom.
func accessAllowed(af *v1alpha1.AccessFrom, set labels.Set) bool {
	for _, sel := range af.NamespaceSelectors {
		if labels.SelectorFromSet(sel.MatchLabels).Matches(set) {
			return true
		}
	}
	return false
}

// setDenied sets the conditions of a policy whose access was refused, and
// reports whether that is news. It is not Stalled: a label on the
// namespace or the repository's accessFrom can admit it.
func setDenied(conds *[]metav1.Condition, gen int64, msg string) bool {
	prev := apimeta.FindStatusCondition(*conds, ReadyCondition)
	news := prev == nil || prev.Status != metav1.ConditionFalse || prev.Message != msg
	apimeta.SetStatusCondition(conds, metav1.Condition{Type: ReadyCondition, Status: metav1.ConditionFalse, Reason: ReasonAccessDenied, Message: msg, ObservedGeneration: gen})
	apimeta.RemoveStatusCondition(conds, ReconcilingCondition)
	apimeta.RemoveStatusCondition(conds, StalledCondition)
	return news
}

// accessWatches makes the ImagePolicy reconciler see a change of an
// ImageRepository's spec (its accessFrom) in the policies of other
// namespaces that refer to it. Namespaces are not watched (a Role per
// namespace cannot): their labels are read at each sync, so a new label
// counts from the next scan or change of any object.
func (c *Controller) accessWatches(kind string, b *builder.TypedBuilder[reconcile.Request]) *builder.TypedBuilder[reconcile.Request] {
	if kind != v1alpha1.ImagePolicyKind {
		return b
	}
	return b.Watches(&v1alpha1.ImageRepository{}, handler.EnqueueRequestsFromMapFunc(c.crossNamespacePolicies),
		builder.WithPredicates(predicate.GenerationChangedPredicate{}))
}

// crossNamespacePolicies are the policies of other namespaces that refer
// to an ImageRepository.
func (c *Controller) crossNamespacePolicies(ctx context.Context, repo client.Object) []reconcile.Request {
	var list v1alpha1.ImagePolicyList
	if err := c.client.List(ctx, &list); err != nil {
		return nil
	}
	var out []reconcile.Request
	for _, p := range list.Items {
		ref := p.Spec.ImageRepositoryRef
		if ref.Namespace != "" && ref.Namespace != p.Namespace && ref.Namespace == repo.GetNamespace() && ref.Name == repo.GetName() {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: p.Namespace, Name: p.Name}})
		}
	}
	return out
}
