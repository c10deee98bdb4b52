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

// credentialRef names a Secret or a ServiceAccount an object uses.
type credentialRef struct {
	// Kind is "Secret" or "ServiceAccount".
	Kind string
	types.NamespacedName
}

// credentials are the resource versions of the Secrets and ServiceAccounts
// that objects use ("" for one that does not exist), and which each object
// uses: the Secrets it names (secretNames) and, for an ImageRepository,
// its serviceAccountName and that ServiceAccount's imagePullSecrets.
type credentials struct {
	versions map[credentialRef]string
	uses     map[objectKey][]credentialRef
}

// credentialVersions reads the credentials of objs from the cache: the
// Secrets' metadata and the ServiceAccounts.
func credentialVersions(ctx context.Context, c client.Reader, objs []object) (credentials, error) {
	out := credentials{versions: map[credentialRef]string{}, uses: map[objectKey][]credentialRef{}}
	pulls := map[credentialRef][]string{} // of each ServiceAccount read
	for _, o := range objs {
		var refs []credentialRef
		secret := func(name string) credentialRef {
			return credentialRef{"Secret", types.NamespacedName{Namespace: o.key.Namespace, Name: name}}
		}
		for _, n := range secretNames(o.obj) {
			refs = append(refs, secret(n))
		}
		if r, ok := o.obj.(*v1alpha1.ImageRepository); ok && r.Spec.ServiceAccountName != "" {
			ref := credentialRef{"ServiceAccount", types.NamespacedName{Namespace: o.key.Namespace, Name: r.Spec.ServiceAccountName}}
			if _, ok := out.versions[ref]; !ok {
				var sa corev1.ServiceAccount
				switch err := c.Get(ctx, ref.NamespacedName, &sa); {
				case apierrors.IsNotFound(err):
					out.versions[ref] = ""
				case err != nil:
					return credentials{}, fmt.Errorf("reading ServiceAccount %s: %w", ref.NamespacedName, err)
				default:
					out.versions[ref] = sa.ResourceVersion
					pulls[ref] = pullSecretNames(&sa)
				}
			}
			refs = append(refs, ref)
			for _, n := range pulls[ref] {
				refs = append(refs, secret(n))
			}
		}
		for _, ref := range refs {
			if _, ok := out.versions[ref]; ok || ref.Kind != "Secret" {
				continue
			}
			m := &metav1.PartialObjectMetadata{}
			m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
			switch err := c.Get(ctx, ref.NamespacedName, m); {
			case apierrors.IsNotFound(err):
				out.versions[ref] = ""
			case err != nil:
				return credentials{}, fmt.Errorf("reading the metadata of Secret %s: %w", ref.NamespacedName, err)
			default:
				out.versions[ref] = m.ResourceVersion
			}
		}
		if len(refs) > 0 {
			out.uses[o.key] = refs
		}
	}
	return out, nil
}

// changed are the objects of objs that use a Secret or ServiceAccount
// whose version in now differs from the one in c (nil: none before).
func (c credentials) changed(objs []object, now credentials) []objectKey {
	if c.versions == nil {
		return nil
	}
	var out []objectKey
	for _, o := range objs {
		for _, ref := range now.uses[o.key] {
			if old, ok := c.versions[ref]; ok && old != now.versions[ref] {
				out = append(out, o.key)
				break
			}
		}
	}
	return out
}

// fingerprint is the part of the fingerprint of the documents that the
// Secrets and ServiceAccounts they use make.
func (c credentials) fingerprint() string {
	keys := make([]string, 0, len(c.versions))
	for k, v := range c.versions {
		keys = append(keys, strings.ToLower(k.Kind)+" "+k.String()+" "+v+"\n")
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
