package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	crsource "sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
)

// The kinds of Argo CD and Argo CD Image Updater read from the API server
// when their CustomResourceDefinitions are installed (see docs/argocd.md).
var (
	ApplicationGVK  = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Application"}
	ImageUpdaterGVK = schema.GroupVersionKind{Group: "argocd-image-updater.argoproj.io", Version: "v1alpha1", Kind: "ImageUpdater"}
)

// The CustomResourceDefinitions of ApplicationGVK and ImageUpdaterGVK.
const (
	applicationCRD  = "applications.argoproj.io"
	imageUpdaterCRD = "imageupdaters.argocd-image-updater.argoproj.io"
)

// watchArgo registers the reconcilers of Argo CD's Applications and Argo
// CD Image Updater's ImageUpdaters, and returns them as optional kinds
// (watchOptional): while a kind's CRD is installed, its objects are
// watched, and each change that matters to hoist (see argoVersion) syncs
// the configuration, of which they are documents as in files; when a CRD
// comes or goes, the configuration is synced again. The Runner patches
// Applications written with the argocd method through the API server.
func (c *Controller) watchArgo(mgr manager.Manager, o Options) ([]*optionalKind, error) {
	kinds := []*optionalKind{
		{gvk: ApplicationGVK, crd: applicationCRD, what: "Argo CD's Applications"},
		{gvk: ImageUpdaterGVK, crd: imageUpdaterCRD, what: "Argo CD Image Updater's ImageUpdaters"},
	}
	reader := mgr.GetCache()
	cmKey := types.NamespacedName{Namespace: o.ArgoCDImageUpdaterNamespace, Name: config.ArgoConfigMapName}
	c.docs.extra = append(c.docs.extra, func(ctx context.Context) ([]object, error) {
		var objs []object
		err := readServed(kinds, func(served []schema.GroupVersionKind) error {
			if len(served) == 0 {
				return nil
			}
			var err error
			if objs, err = listArgo(ctx, reader, served); err != nil || cmKey.Namespace == "" {
				return err
			}
			cm, err := argoConfigMap(ctx, reader, cmKey)
			if err != nil || cm == nil {
				return err
			}
			objs = append(objs, *cm)
			return nil
		})
		return objs, err
	})
	if r := o.Service.Runner; r != nil {
		r.Applications = &applications{reader: mgr.GetAPIReader(), writer: mgr.GetClient()}
	}
	for _, k := range kinds {
		r := &reconciler{c: c, kind: k.gvk.Kind, reconcile: func(context.Context, objectKey) error { return nil }}
		ctl, err := crcontroller.New(k.gvk.Kind, mgr, crcontroller.Options{Reconciler: r, MaxConcurrentReconciles: 1})
		if err != nil {
			return nil, fmt.Errorf("controller: registering the %s reconciler: %w", k.gvk.Kind, err)
		}
		// The watches that are not of the kind itself are added the
		// first time it is served, and stay (their objects are always
		// served): without Argo CD, hoist reads no ConfigMap, which
		// RBAC may not grant. watch is called by one goroutine at a
		// time (setServed).
		watched := false
		k.watch = func(ctx context.Context) error {
			if !watched && k.gvk == ApplicationGVK {
				if err := c.watchApplicationInputs(mgr, ctl, cmKey); err != nil {
					return err
				}
			}
			watched = true
			// The informer, started and listed (once the cache is):
			// the documents listed next have the objects.
			if _, err := c.informers.GetInformer(ctx, k.object()); err != nil {
				return err
			}
			// counted: a change makes the next sync list again.
			return ctl.Watch(crsource.Kind[client.Object](c.informers, k.object(), &handler.EnqueueRequestForObject{}, c.counted(argoChanged{})))
		}
		k.changed = c.sync
	}
	return kinds, nil
}

// watchApplicationInputs adds to ctl, the Applications' controller, the
// watches of what Applications read besides themselves: Image Updater's
// ConfigMap, cmKey ("" namespace: none), whose settings apply at once; the
// Git credentials of git:secret (the Secrets' metadata only, as the other
// watches of Secrets), whose new version (a new password, a new grant of
// access) is read at once.
func (c *Controller) watchApplicationInputs(mgr manager.Manager, ctl crcontroller.Controller, cmKey types.NamespacedName) error {
	if cmKey.Namespace != "" {
		err := ctl.Watch(crsource.Kind[client.Object](mgr.GetCache(), &corev1.ConfigMap{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(o)}}
		}), c.counted(predicate.NewPredicateFuncs(func(o client.Object) bool {
			return o.GetNamespace() == cmKey.Namespace && o.GetName() == cmKey.Name
		}))))
		if err != nil {
			return fmt.Errorf("watching ConfigMap %s: %w", cmKey, err)
		}
	}
	sec := &metav1.PartialObjectMetadata{}
	sec.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := ctl.Watch(crsource.Kind[client.Object](mgr.GetCache(), sec, handler.EnqueueRequestsFromMapFunc(c.argoSecretChanged), predicate.ResourceVersionChangedPredicate{})); err != nil {
		return fmt.Errorf("watching Secrets: %w", err)
	}
	return nil
}

// argoSecretChanged counts the change of a Secret that Applications read
// (git:secret), and has the Application reconciler sync.
func (c *Controller) argoSecretChanged(_ context.Context, sec client.Object) []reconcile.Request {
	k := types.NamespacedName{Namespace: sec.GetNamespace(), Name: sec.GetName()}
	if !c.docs.usesArgoSecret(k) {
		return nil
	}
	c.docs.changes.Add(1)
	return []reconcile.Request{{NamespacedName: k}}
}

// argoConfigMap reads Image Updater's ConfigMap from the cache, as a
// document: nil when there is none.
func argoConfigMap(ctx context.Context, c client.Reader, key types.NamespacedName) (*object, error) {
	var cm corev1.ConfigMap
	switch err := c.Get(ctx, key, &cm); {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading ConfigMap %s: %w", key, err)
	}
	cm.APIVersion, cm.Kind = "v1", "ConfigMap"
	return &object{objectKey{"ConfigMap", cm.Namespace, cm.Name}, &cm}, nil
}

// listArgo reads the objects of kinds from the cache, each cut down to
// what is read (argoDocument).
func listArgo(ctx context.Context, c client.Reader, kinds []schema.GroupVersionKind) ([]object, error) {
	var out []object
	for _, gvk := range kinds {
		var l unstructured.UnstructuredList
		l.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := c.List(ctx, &l); err != nil {
			return nil, fmt.Errorf("listing %ss: %w", gvk.Kind, err)
		}
		for i := range l.Items {
			o := argoDocument(&l.Items[i])
			o.SetGroupVersionKind(gvk)
			out = append(out, object{objectKey{gvk.Kind, o.GetNamespace(), o.GetName()}, o})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key.String() < out[j].key.String() })
	return out, nil
}

// argoDocument is the part of an Application or ImageUpdater that is read:
// its metadata's name, namespace, uid, labels and annotations, its spec,
// and of an Application's status the images it runs and the types of its
// sources. The rest (an Application's resources, its history) is left out.
func argoDocument(u *unstructured.Unstructured) *unstructured.Unstructured {
	out := &unstructured.Unstructured{Object: map[string]any{}}
	out.SetName(u.GetName())
	out.SetNamespace(u.GetNamespace())
	out.SetUID(u.GetUID())
	out.SetGeneration(u.GetGeneration())
	out.SetLabels(u.GetLabels())
	out.SetAnnotations(u.GetAnnotations())
	if spec, ok := u.Object["spec"]; ok {
		out.Object["spec"] = runtimeCopy(spec)
	}
	if status, ok := u.Object["status"].(map[string]any); ok {
		st := map[string]any{}
		if images, ok, _ := unstructured.NestedSlice(status, "summary", "images"); ok {
			st["summary"] = map[string]any{"images": images}
		}
		for _, k := range []string{"sourceType", "sourceTypes"} {
			if v, ok := status[k]; ok {
				st[k] = runtimeCopy(v)
			}
		}
		out.Object["status"] = st
	}
	return out
}

func runtimeCopy(v any) any {
	return (&unstructured.Unstructured{Object: map[string]any{"v": v}}).DeepCopy().Object["v"]
}

// argoVersion stands for the content of an Argo CD object that hoist
// reads (argoDocument): it changes when that does, and not when Argo CD
// writes the rest of an Application's status, which bumps its generation
// too (Argo CD's CustomResourceDefinitions have no status subresource).
func argoVersion(u *unstructured.Unstructured) string {
	d := argoDocument(u)
	data, err := json.Marshal([]any{d.Object["spec"], d.Object["status"]})
	if err != nil {
		// Objects decoded from JSON encode again.
		return u.GetResourceVersion()
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}

// argoChanged passes an Argo CD object's creation and deletion, and a
// change of its labels, annotations or what argoVersion covers.
type argoChanged struct {
	predicate.Funcs
}

func (argoChanged) Update(e event.UpdateEvent) bool {
	o, ok1 := e.ObjectOld.(*unstructured.Unstructured)
	n, ok2 := e.ObjectNew.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return true
	}
	return argoVersion(o) != argoVersion(n) ||
		fmt.Sprint(o.GetLabels()) != fmt.Sprint(n.GetLabels()) ||
		fmt.Sprint(o.GetAnnotations()) != fmt.Sprint(n.GetAnnotations())
}

// applications patches Applications for the argocd write-back method:
// read from the API server (not the cache, which may lag), edited, and
// patched with their resourceVersion, so that a write by someone else in
// between (Argo CD, a user) is a conflict, after which the Application is
// read and edited again.
type applications struct {
	reader client.Reader
	writer client.Writer
}

var _ automation.ArgoApplications = (*applications)(nil)

// UpdateApplication is automation.ArgoApplications.
func (a *applications) UpdateApplication(ctx context.Context, namespace, name string, edit func(map[string]any) (bool, error)) error {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(ApplicationGVK)
		if err := a.reader.Get(ctx, key, u); err != nil {
			return fmt.Errorf("reading Application %s: %w", key, err)
		}
		before := u.DeepCopy()
		changed, err := edit(u.Object)
		if err != nil || !changed {
			return err
		}
		if err := a.writer.Patch(ctx, u, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
			return fmt.Errorf("patching Application %s: %w", key, err)
		}
		return nil
	})
}
