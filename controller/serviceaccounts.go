package controller

import (
	"context"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// serviceAccountIndex is the field index of the ImageRepositories by their
// spec.serviceAccountName.
const serviceAccountIndex = ".hoist.dev.serviceAccount"

// pullSecretIndex is the field index of the ServiceAccounts by the names
// of their imagePullSecrets.
const pullSecretIndex = ".hoist.dev.imagePullSecrets"

// serviceAccountName is the ServiceAccount an ImageRepository names, for
// serviceAccountIndex.
func serviceAccountName(obj client.Object) []string {
	if r, ok := obj.(*v1alpha1.ImageRepository); ok && r.Spec.ServiceAccountName != "" {
		return []string{r.Spec.ServiceAccountName}
	}
	return nil
}

// pullSecretNames are the image pull secrets a ServiceAccount names, for
// pullSecretIndex.
func pullSecretNames(obj client.Object) []string {
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(sa.ImagePullSecrets))
	for _, ref := range sa.ImagePullSecrets {
		if ref.Name != "" {
			out = append(out, ref.Name)
		}
	}
	return out
}

// serviceAccountUsers maps a ServiceAccount to the ImageRepositories in its
// namespace that name it (serviceAccountIndex), for the ServiceAccount
// watch, and counts the change of one in use in changes.
func serviceAccountUsers(c client.Reader, changes *atomic.Uint64) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, sa client.Object) []reconcile.Request {
		var l v1alpha1.ImageRepositoryList
		if err := c.List(ctx, &l, client.InNamespace(sa.GetNamespace()), client.MatchingFields{serviceAccountIndex: sa.GetName()}); err != nil {
			return nil
		}
		out := make([]reconcile.Request, 0, len(l.Items))
		for i := range l.Items {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&l.Items[i])})
		}
		if len(out) > 0 {
			changes.Add(1)
		}
		return out
	}
}

// repositorySecretUsers adds to users (the ImageRepositories that name a
// Secret) the ImageRepositories whose ServiceAccount has it among its
// imagePullSecrets.
func repositorySecretUsers(c client.Reader, users func(context.Context, client.Object) []reconcile.Request, changes *atomic.Uint64) func(context.Context, client.Object) []reconcile.Request {
	viaSA := serviceAccountUsers(c, changes)
	return func(ctx context.Context, sec client.Object) []reconcile.Request {
		out := users(ctx, sec)
		var sas corev1.ServiceAccountList
		if err := c.List(ctx, &sas, client.InNamespace(sec.GetNamespace()), client.MatchingFields{pullSecretIndex: sec.GetName()}); err != nil {
			return out
		}
		for i := range sas.Items {
			out = append(out, viaSA(ctx, &sas.Items[i])...)
		}
		return out
	}
}

// stripServiceAccount is the cache's transform of the ServiceAccounts it
// keeps: hoist reads their imagePullSecrets and annotations.
func stripServiceAccount(in any) (any, error) {
	if sa, ok := in.(*corev1.ServiceAccount); ok {
		sa.ManagedFields = nil
	}
	return in, nil
}
