package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing/fstest"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// documents turns the objects of the cache into the service's
// configuration.
type documents struct {
	// secrets reads the Secrets the objects name, from the API server
	// (not the cache: hoist does not watch every Secret); secretsDir is
	// where they are written for the loop, as DIR/NAME/KEY.
	secrets    client.Reader
	secretsDir string
	// extra lists more documents than hoist's: Argo CD's (watchArgo).
	extra func(context.Context) ([]object, error)

	mu          sync.Mutex
	fingerprint string
	// applied is closed once the service applied the last configuration
	// published; nil before the first.
	applied <-chan struct{}
	// invalid holds the first problem of each object left out of the
	// configuration, with the field it names.
	invalid map[objectKey]*config.Error
}

// object is one document: its key, and the object with its kind set.
type object struct {
	key objectKey
	obj client.Object
}

// list reads the hoist.dev objects of the cache.
func list(ctx context.Context, c client.Reader) ([]object, error) {
	var out []object
	var repos v1alpha1.ImageRepositoryList
	if err := c.List(ctx, &repos); err != nil {
		return nil, fmt.Errorf("listing ImageRepositories: %w", err)
	}
	for i := range repos.Items {
		o := repos.Items[i].DeepCopy()
		o.APIVersion, o.Kind = v1alpha1.APIVersion, v1alpha1.ImageRepositoryKind
		out = append(out, object{objectKey{o.Kind, o.Namespace, o.Name}, o})
	}
	var policies v1alpha1.ImagePolicyList
	if err := c.List(ctx, &policies); err != nil {
		return nil, fmt.Errorf("listing ImagePolicies: %w", err)
	}
	for i := range policies.Items {
		o := policies.Items[i].DeepCopy()
		o.APIVersion, o.Kind = v1alpha1.APIVersion, v1alpha1.ImagePolicyKind
		out = append(out, object{objectKey{o.Kind, o.Namespace, o.Name}, o})
	}
	var receivers v1alpha1.ReceiverList
	if err := c.List(ctx, &receivers); err != nil {
		return nil, fmt.Errorf("listing Receivers: %w", err)
	}
	for i := range receivers.Items {
		o := receivers.Items[i].DeepCopy()
		o.APIVersion, o.Kind = v1alpha1.APIVersion, v1alpha1.ReceiverKind
		out = append(out, object{objectKey{o.Kind, o.Namespace, o.Name}, o})
	}
	var autos v1alpha1.ImageUpdateAutomationList
	if err := c.List(ctx, &autos); err != nil {
		return nil, fmt.Errorf("listing ImageUpdateAutomations: %w", err)
	}
	for i := range autos.Items {
		o := autos.Items[i].DeepCopy()
		o.APIVersion, o.Kind = v1alpha1.APIVersion, v1alpha1.ImageUpdateAutomationKind
		out = append(out, object{objectKey{o.Kind, o.Namespace, o.Name}, o})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key.String() < out[j].key.String() })
	return out, nil
}

// fingerprint changes when anything the configuration is made of changes:
// an object's spec (generation), labels (policy selectors) or annotations
// (but for RequestedAtAnnotation, which asks for a scan instead).
func fingerprint(objs []object) string {
	var b strings.Builder
	for _, o := range objs {
		m := o.obj
		b.WriteString(o.key.String())
		b.WriteByte(' ')
		b.WriteString(string(m.GetUID()))
		b.WriteByte(' ')
		if u, ok := m.(*unstructured.Unstructured); ok {
			b.WriteString(argoVersion(u))
		} else {
			b.WriteString(strconv.FormatInt(m.GetGeneration(), 10))
		}
		for _, kv := range []map[string]string{m.GetLabels(), m.GetAnnotations()} {
			keys := make([]string, 0, len(kv))
			for k := range kv {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if k == RequestedAtAnnotation {
					continue // a request, not configuration
				}
				b.WriteString(" " + k + "=" + kv[k])
			}
			b.WriteString(" |")
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// fileOf is the file name an object is read from, which config.Error
// names: KIND/NAMESPACE/NAME.yaml.
func fileOf(k objectKey) string {
	return path.Join(strings.ToLower(k.Kind), k.Namespace, k.Name+".yaml")
}

// build decodes objs as config.Load decodes files, one file per object.
// An object with a problem is left out, with its first problem, and the
// rest is read again (a policy of a repository that was left out has a
// problem then in its turn).
func build(objs []object) (*config.Set, map[objectKey]*config.Error, error) {
	fsys := fstest.MapFS{}
	byFile := map[string]objectKey{}
	for _, o := range objs {
		clean := o.obj.DeepCopyObject().(client.Object)
		clean.SetManagedFields(nil)
		data, err := yaml.Marshal(clean)
		if err != nil {
			return nil, nil, fmt.Errorf("encoding %s: %w", o.key, err)
		}
		f := fileOf(o.key)
		fsys[f] = &fstest.MapFile{Data: data}
		byFile[f] = o.key
	}
	invalid := map[objectKey]*config.Error{}
	for range len(objs) + 1 {
		if len(fsys) == 0 {
			return &config.Set{}, invalid, nil
		}
		set, err := config.LoadOntoFSWith(nil, fsys, ".", config.LoadOptions{ArgoCD: true, ArgoCDAPI: true})
		if err == nil {
			return set, invalid, nil
		}
		var errs config.Errors
		if !errors.As(err, &errs) {
			return nil, nil, err
		}
		dropped := false
		for _, e := range errs {
			k, ok := byFile[e.File]
			if !ok {
				continue
			}
			if _, seen := invalid[k]; !seen {
				invalid[k] = e
			}
			if _, ok := fsys[e.File]; ok {
				delete(fsys, e.File)
				dropped = true
			}
		}
		if !dropped {
			return nil, nil, err
		}
	}
	return nil, nil, errors.New("controller: the objects do not converge to a valid configuration")
}

// sync publishes the cache's objects to src when they changed since the
// last sync, then waits until the service applied what was published last.
func (d *documents) sync(ctx context.Context, c client.Reader, src *source, log *slog.Logger) error {
	objs, err := list(ctx, c)
	if err != nil {
		return err
	}
	if d.extra != nil {
		more, err := d.extra(ctx)
		if err != nil {
			return err
		}
		objs = append(objs, more...)
	}
	applied, counts, err := d.publish(ctx, objs, src)
	if err != nil {
		return err
	}
	select {
	case <-applied:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the service to apply the objects: %w", ctx.Err())
	}
	if counts != nil {
		log.Info("configuration applied", counts...)
	}
	return nil
}

// publish builds the configuration of objs and publishes it to src, when
// they changed since the last sync. It returns the channel of the last
// publish, and the counts of what it published itself (nil when nothing).
func (d *documents) publish(ctx context.Context, objs []object, src *source) (applied <-chan struct{}, counts []any, err error) {
	fp := fingerprint(objs)
	d.mu.Lock()
	defer d.mu.Unlock()
	if fp == d.fingerprint && d.applied != nil {
		return d.applied, nil, nil
	}
	set, invalid, err := build(objs)
	if err != nil {
		return nil, nil, err
	}
	if err := d.writeSecrets(ctx, set); err != nil {
		return nil, nil, err
	}
	d.applied = src.publish(set)
	d.fingerprint = fp
	d.invalid = invalid
	counts = []any{"repositories", len(set.Repositories), "policies", len(set.Policies), "automations", len(set.Automations), "invalid", len(invalid)}
	return d.applied, counts, nil
}

// problem is the problem that kept an object out of the configuration, or
// nil.
func (d *documents) problem(k objectKey) *config.Error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.invalid[k]
}

// secretRefs are the Secrets that set's objects name, by namespace and
// name.
func secretRefs(set *config.Set) []types.NamespacedName {
	seen := map[types.NamespacedName]bool{}
	var out []types.NamespacedName
	add := func(ns string, ref *v1alpha1.LocalObjectReference) {
		if ref == nil || ref.Name == "" {
			return
		}
		k := types.NamespacedName{Namespace: ns, Name: ref.Name}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, r := range set.Repositories {
		add(r.Namespace, r.Spec.SecretRef)
		add(r.Namespace, r.Spec.CertSecretRef)
		add(r.Namespace, r.Spec.ProxySecretRef)
	}
	for _, a := range set.Automations {
		if g := a.Spec.Git; g != nil {
			add(a.Namespace, g.SecretRef)
			if g.Commit.SigningKey != nil {
				add(a.Namespace, &g.Commit.SigningKey.SecretRef)
			}
		}
	}
	for _, rc := range set.Receivers {
		add(rc.Namespace, &rc.Spec.SecretRef)
	}
	return out
}

// writeSecrets writes the Secrets that set's objects name into
// secretsDir/NAME/KEY, where the loop reads them. A Secret that does not
// exist is not written: what needs it fails and says so.
func (d *documents) writeSecrets(ctx context.Context, set *config.Set) error {
	if d.secrets == nil || d.secretsDir == "" {
		return nil
	}
	for _, k := range secretRefs(set) {
		var sec corev1.Secret
		if err := d.secrets.Get(ctx, k, &sec); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("reading Secret %s: %w", k, err)
		}
		dir := filepath.Join(d.secretsDir, k.Name)
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("writing Secret %s: %w", k, err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("writing Secret %s: %w", k, err)
		}
		for key, value := range sec.Data {
			if err := os.WriteFile(filepath.Join(dir, key), value, 0o600); err != nil {
				return fmt.Errorf("writing key %s of Secret %s: %w", key, k, err)
			}
		}
	}
	return nil
}
