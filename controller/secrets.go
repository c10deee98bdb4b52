package controller

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// secretIndex is the field index of the objects of each kind by the names
// of the Secrets (in their own namespace) they use.
const secretIndex = ".hoist.dev.secrets"

// secretNames are the Secrets obj names, in its namespace: secretRef,
// certSecretRef and proxySecretRef of an ImageRepository, git.secretRef and
// the signing key of an ImageUpdateAutomation, a Receiver's token, and a
// GitRepository's secretRef and proxySecretRef.
func secretNames(obj client.Object) []string {
	var out []string
	add := func(ref *v1alpha1.LocalObjectReference) {
		if ref != nil && ref.Name != "" {
			out = append(out, ref.Name)
		}
	}
	switch o := obj.(type) {
	case *v1alpha1.ImageRepository:
		add(o.Spec.SecretRef)
		add(o.Spec.CertSecretRef)
		add(o.Spec.ProxySecretRef)
	case *v1alpha1.ImageUpdateAutomation:
		if g := o.Spec.Git; g != nil {
			add(g.SecretRef)
			if g.Commit.SigningKey != nil {
				add(&g.Commit.SigningKey.SecretRef)
			}
		}
	case *v1alpha1.Receiver:
		add(&o.Spec.SecretRef)
	case *v1alpha1.GitRepository:
		add(o.Spec.SecretRef)
		add(o.Spec.ProxySecretRef)
	case *unstructured.Unstructured: // Flux's GitRepository
		for _, f := range []string{"secretRef", "proxySecretRef"} {
			if n, _, _ := unstructured.NestedString(o.Object, "spec", f, "name"); n != "" {
				out = append(out, n)
			}
		}
	}
	return out
}

// secretUsers maps a Secret to the objects of list's kind in its namespace
// that name it (secretIndex), for the Secret watch of each kind, and counts
// the change of a Secret in use in changes.
func secretUsers(c client.Reader, list client.ObjectList, changes *atomic.Uint64) func(context.Context, client.Object) []reconcile.Request {
	return func(ctx context.Context, sec client.Object) []reconcile.Request {
		l := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, l, client.InNamespace(sec.GetNamespace()), client.MatchingFields{secretIndex: sec.GetName()}); err != nil {
			return nil
		}
		var out []reconcile.Request
		_ = metaEach(l, func(o client.Object) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(o)})
		})
		if len(out) > 0 {
			changes.Add(1)
		}
		return out
	}
}

// metaEach calls fn with each item of l.
func metaEach(l client.ObjectList, fn func(client.Object)) error {
	switch l := l.(type) {
	case *v1alpha1.ImageRepositoryList:
		for i := range l.Items {
			fn(&l.Items[i])
		}
	case *v1alpha1.ImageUpdateAutomationList:
		for i := range l.Items {
			fn(&l.Items[i])
		}
	case *v1alpha1.ReceiverList:
		for i := range l.Items {
			fn(&l.Items[i])
		}
	default:
		return fmt.Errorf("no items of %T", l)
	}
	return nil
}

// secretVersions are the resource versions of the Secrets that objs
// name, by namespace and name, from the cache of Secrets' metadata ("" for
// a Secret that does not exist).
func secretVersions(ctx context.Context, c client.Reader, objs []object) (map[types.NamespacedName]string, error) {
	out := map[types.NamespacedName]string{}
	for _, o := range objs {
		for _, n := range secretNames(o.obj) {
			k := types.NamespacedName{Namespace: o.key.Namespace, Name: n}
			if _, ok := out[k]; ok {
				continue
			}
			m := &metav1.PartialObjectMetadata{}
			m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
			switch err := c.Get(ctx, k, m); {
			case apierrors.IsNotFound(err):
				out[k] = ""
			case err != nil:
				return nil, fmt.Errorf("reading the metadata of Secret %s: %w", k, err)
			default:
				out[k] = m.ResourceVersion
			}
		}
	}
	return out, nil
}

// secretsFingerprint is the part of the fingerprint of the documents that
// the Secrets they name make.
func secretsFingerprint(versions map[types.NamespacedName]string) string {
	keys := make([]string, 0, len(versions))
	for k, v := range versions {
		keys = append(keys, "secret "+k.String()+" "+v+"\n")
	}
	sort.Strings(keys)
	return strings.Join(keys, "")
}

// stripSecretMetadata is the cache's transform of the Secrets' metadata
// it keeps: their resource version is what hoist reads, and an annotation
// may hold the Secret's value (kubectl's last-applied-configuration).
func stripSecretMetadata(in any) (any, error) {
	if m, ok := in.(*metav1.PartialObjectMetadata); ok {
		m.Annotations = nil
		m.ManagedFields = nil
	}
	return in, nil
}
