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
	"sync/atomic"
	"testing/fstest"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/notification/v1beta3"
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
	// fluxGit is Flux's GitRepository: while it is served, its objects
	// are documents too (see fluxGitRepositories). nil: never.
	fluxGit *optionalKind

	// changes counts the watch events that may change the configuration
	// (an object's spec, labels or annotations; a Secret's version): a
	// sync that finds it as the last publish left it lists nothing.
	changes atomic.Uint64

	// extra list more documents than hoist's: Argo CD's (watchArgo),
	// Flux's Providers and Alerts (watchNotifications).
	extra []func(context.Context) ([]object, error)

	mu          sync.Mutex
	fingerprint string
	// synced is changes as the last sync read it before listing.
	synced uint64
	// credentials are the versions of the Secrets and ServiceAccounts
	// of the last publish.
	credentials credentials
	// applied is closed once the service applied the last configuration
	// published; nil before the first.
	applied <-chan struct{}
	// invalid holds the first problem of each object left out of the
	// configuration, with the field it names.
	invalid map[objectKey]*config.Error
	// denied holds why each ImagePolicy left out for its cross-namespace
	// reference was refused (see crossNamespace).
	denied map[objectKey]string
	// argoRefs are the Git credentials Secrets (git:secret) of the
	// Applications in the last configuration published, and argoStates
	// what was found of them; argoDenied holds why each Application whose
	// Secret may not be read was left out (see secretAccess).
	argoRefs   []argoSecret
	argoStates map[argoSecret]argoSecretState
	argoDenied map[objectKey]string
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
	var gits v1alpha1.GitRepositoryList
	if err := c.List(ctx, &gits); err != nil {
		return nil, fmt.Errorf("listing GitRepositories: %w", err)
	}
	for i := range gits.Items {
		o := gits.Items[i].DeepCopy()
		o.APIVersion, o.Kind = v1alpha1.APIVersion, v1alpha1.GitRepositoryKind
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
		switch u := m.(type) {
		case *unstructured.Unstructured:
			b.WriteString(argoVersion(u))
		case *corev1.ConfigMap: // no generation: its data is its content
			b.WriteString(u.ResourceVersion)
		default:
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
// It returns the objects that use a Secret whose value changed since the
// last publish (none on the first).
func (d *documents) sync(ctx context.Context, c client.Reader, src *source, log *slog.Logger) ([]objectKey, error) {
	n := d.changes.Load() // before listing: a later event makes the next sync list again
	d.mu.Lock()
	applied := d.applied
	fresh := applied != nil && n == d.synced
	d.mu.Unlock()
	var users []objectKey
	if !fresh {
		objs, err := list(ctx, c)
		if err != nil {
			return nil, err
		}
		err = d.fluxGit.read(func() error {
			gits, err := listFluxGitRepositories(ctx, c)
			objs = append(objs, unshadowed(gits, objs)...)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, extra := range d.extra {
			more, err := extra(ctx)
			if err != nil {
				return nil, err
			}
			objs = append(objs, more...)
		}
		versions, err := credentialVersions(ctx, c, objs)
		if err != nil {
			return nil, err
		}
		var counts []any
		applied, counts, users, err = d.publish(ctx, objs, versions, n, src)
		if err != nil {
			return nil, err
		}
		if counts != nil {
			log.Info("configuration applied", counts...)
			for _, p := range d.notificationProblems() {
				log.Warn("notification document left out", "problem", p)
			}
		}
	}
	select {
	case <-applied:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the service to apply the objects: %w", ctx.Err())
	}
	return users, nil
}

// publish builds the configuration of objs and publishes it to src, when
// they, the versions of their Secrets or the namespaces' grants of access
// changed since the last sync; n is the count of changes read before objs
// were listed. It returns the channel of the last publish, the counts of
// what it published itself (nil when nothing) and the objects whose
// Secrets changed.
func (d *documents) publish(ctx context.Context, objs []object, versions credentials, n uint64, src *source) (applied <-chan struct{}, counts []any, users []objectKey, err error) {
	objs, denied, accessFP, err := crossNamespace(ctx, d.secrets, objs)
	if err != nil {
		return nil, nil, nil, err
	}
	d.mu.Lock()
	prevRefs, prevStates := d.argoRefs, d.argoStates
	d.mu.Unlock()
	// The Git credentials of the Applications as last published: a
	// change of their versions, or of the grants of access, is a change.
	var argoStates map[argoSecret]argoSecretState
	argoFP := ""
	if d.secrets != nil {
		if argoStates, argoFP, err = readArgoSecrets(ctx, d.secrets, prevRefs, nil); err != nil {
			return nil, nil, nil, err
		}
	}
	fluxGitFP := "flux-git=" + strconv.FormatBool(d.fluxGit.isServed())
	fp := fingerprint(objs) + accessFP + versions.fingerprint() + argoFP + fluxGitFP
	d.mu.Lock()
	defer d.mu.Unlock()
	if fp == d.fingerprint && d.applied != nil {
		d.synced = max(d.synced, n)
		return d.applied, nil, nil, nil
	}
	set, invalid, err := build(objs)
	if err != nil {
		return nil, nil, nil, err
	}
	if !d.fluxGit.isServed() {
		noFluxGitRepository(objs, invalid)
	}
	argoRefs := argoSecretRefs(set)
	if d.secrets != nil {
		if argoStates, argoFP, err = readArgoSecrets(ctx, d.secrets, argoRefs, argoStates); err != nil {
			return nil, nil, nil, err
		}
		fp = fingerprint(objs) + accessFP + versions.fingerprint() + argoFP + fluxGitFP
	}
	users = append(users, argoSecretUsers(set, prevStates, argoStates)...)
	argoDenied := applyArgoSecrets(set, argoStates)
	if err := d.writeSecrets(ctx, set); err != nil {
		return nil, nil, nil, err
	}
	if d.secretsDir != "" {
		if err := writeArgoSecrets(d.secretsDir, argoStates); err != nil {
			return nil, nil, nil, err
		}
	}
	users = append(users, d.credentials.changed(objs, versions)...)
	users = append(users, gitRepositoryAutomations(objs, users)...)
	d.applied = src.publish(set)
	d.fingerprint = fp
	d.synced = max(d.synced, n)
	d.credentials = versions
	d.invalid = invalid
	d.denied = denied
	d.argoRefs, d.argoStates, d.argoDenied = argoRefs, argoStates, argoDenied
	counts = []any{"repositories", len(set.Repositories), "policies", len(set.Policies), "automations", len(set.Automations), "providers", len(set.Providers), "alerts", len(set.Alerts), "invalid", len(invalid)}
	return d.applied, counts, users, nil
}

// problem is the problem that kept an object out of the configuration, or
// nil.
func (d *documents) problem(k objectKey) *config.Error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.invalid[k]
}

// notificationProblems say why each Provider and Alert left out of the
// configuration was (hoist writes no status of Flux's objects: the log
// says it).
func (d *documents) notificationProblems() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for k, e := range d.invalid {
		if k.Kind == v1beta3.ProviderKind || k.Kind == v1beta3.AlertKind {
			out = append(out, k.String()+": "+problemMessage(e))
		}
	}
	sort.Strings(out)
	return out
}

// deniedAccess says why an ImagePolicy's cross-namespace reference was
// refused, or "".
func (d *documents) deniedAccess(k objectKey) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.denied[k]
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
	for _, p := range set.Policies {
		if v := p.Spec.Verify; v != nil {
			add(p.Namespace, v.SecretRef)
		}
	}
	for _, a := range set.Automations {
		if g := a.Spec.Git; g != nil {
			if _, ok := argoSecretOf(a); !ok { // those are writeArgoSecrets'
				add(a.Namespace, g.SecretRef)
			}
			if g.Commit.SigningKey != nil {
				add(a.Namespace, &g.Commit.SigningKey.SecretRef)
			}
		}
	}
	for _, rc := range set.Receivers {
		add(rc.Namespace, &rc.Spec.SecretRef)
	}
	for _, g := range set.GitRepositories {
		add(g.Namespace, g.Spec.SecretRef)
		add(g.Namespace, g.Spec.ProxySecretRef)
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
