package controller

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// AccessFromAnnotation, on a Secret, admits the Argo CD Applications of
// other namespaces to the Git credentials it holds (write-back method
// git:secret:NAMESPACE/NAME): its value is an ImageRepository's
// spec.accessFrom, in YAML or JSON, whose namespaceSelectors select the
// Applications' namespaces by their labels. A Secret has no spec, so the
// grant is an annotation; the rule is accessFrom's.
const AccessFromAnnotation = "hoist.dev/access-from"

// argoSecret is one Git credentials Secret of git:secret:NAMESPACE/NAME,
// as the Applications of one namespace read it.
type argoSecret struct {
	secret types.NamespacedName
	// from is the namespace of the Applications that read it.
	from string
}

// argoSecretState is what was found of an argoSecret.
type argoSecretState struct {
	// sec is the Secret, nil when it does not exist.
	sec *corev1.Secret
	// denied says why the Applications of from may not read it; "" when
	// they may.
	denied string
}

// argoSecretDir is the folder of secretsDir an argoSecret is written to:
// NAME for a Secret of the Application's own namespace, as every Secret an
// object names; NAMESPACE_NAME for one of another namespace, which no
// Secret's name can be ('_' is not allowed in one), so that it never takes
// the place of a Secret of the Application's namespace with the same name.
func argoSecretDir(s argoSecret) string {
	if s.secret.Namespace == s.from {
		return s.secret.Name
	}
	return s.secret.Namespace + "_" + s.secret.Name
}

// argoSecretRefs are the Git credentials Secrets of the automations
// converted from Applications, sorted.
func argoSecretRefs(set *config.Set) []argoSecret {
	seen := map[argoSecret]bool{}
	var out []argoSecret
	for _, a := range set.Automations {
		if s, ok := argoSecretOf(a); ok && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return argoSecretKey(out[i]) < argoSecretKey(out[j]) })
	return out
}

func argoSecretKey(s argoSecret) string { return s.secret.String() + " " + s.from }

// argoSecretOf is the Git credentials Secret of an automation converted
// from an Application with git:secret.
func argoSecretOf(a *config.Automation) (argoSecret, bool) {
	ac := a.ArgoCD
	if ac == nil || ac.SecretNamespace == "" || a.Spec.Git == nil || a.Spec.Git.SecretRef == nil {
		return argoSecret{}, false
	}
	return argoSecret{secret: types.NamespacedName{Namespace: ac.SecretNamespace, Name: a.Spec.Git.SecretRef.Name}, from: a.Namespace}, true
}

// readArgoSecrets reads each Secret of refs from the API server, and
// decides whether the Applications of its from namespace may read it (see
// secretAccess). It returns what it found and a fingerprint of it, which
// changes with the Secrets' versions and the decisions.
func readArgoSecrets(ctx context.Context, api client.Reader, refs []argoSecret, have map[argoSecret]argoSecretState) (map[argoSecret]argoSecretState, string, error) {
	out := map[argoSecret]argoSecretState{}
	nsLabels := map[string]labels.Set{}
	var b strings.Builder
	for _, r := range refs {
		st, ok := have[r]
		if !ok {
			var err error
			if st, err = readArgoSecret(ctx, api, r, nsLabels); err != nil {
				return nil, "", err
			}
		}
		out[r] = st
		rv := ""
		if st.sec != nil {
			rv = st.sec.ResourceVersion
		}
		fmt.Fprintf(&b, "argo secret %s from %s %s %q\n", r.secret, r.from, rv, st.denied)
	}
	return out, b.String(), nil
}

func readArgoSecret(ctx context.Context, api client.Reader, r argoSecret, nsLabels map[string]labels.Set) (argoSecretState, error) {
	var sec corev1.Secret
	switch err := api.Get(ctx, r.secret, &sec); {
	case apierrors.IsNotFound(err):
		// Not written: the run that needs it fails and says so.
		return argoSecretState{}, nil
	case apierrors.IsForbidden(err):
		return argoSecretState{denied: fmt.Sprintf("Secret %s cannot be read: %v", r.secret, err)}, nil
	case err != nil:
		return argoSecretState{}, fmt.Errorf("reading Secret %s: %w", r.secret, err)
	}
	if sec.Namespace == r.from {
		return argoSecretState{sec: &sec}, nil
	}
	set, seen := nsLabels[r.from]
	if !seen {
		var ns corev1.Namespace
		if err := api.Get(ctx, client.ObjectKey{Name: r.from}, &ns); err != nil && !apierrors.IsNotFound(err) {
			return argoSecretState{denied: fmt.Sprintf("Secret %s cannot be read by the Applications of namespace %s: reading the labels of the namespace: %v", r.secret, r.from, err)}, nil
		}
		set = labels.Set(ns.Labels)
		nsLabels[r.from] = set
	}
	return argoSecretState{sec: &sec, denied: secretAccess(&sec, r.from, set)}, nil
}

// secretAccess says why the Applications of namespace ns, whose labels
// are set, may not read the Git credentials of sec, or "" when they may:
// a Secret of their own namespace always, one of another namespace only
// when its AccessFromAnnotation selects theirs, as an ImageRepository's
// spec.accessFrom does for an ImagePolicy.
func secretAccess(sec *corev1.Secret, ns string, set labels.Set) string {
	if sec.Namespace == ns {
		return ""
	}
	where := fmt.Sprintf("Secret %s/%s cannot be read by the Applications of namespace %s", sec.Namespace, sec.Name, ns)
	v, ok := sec.Annotations[AccessFromAnnotation]
	if !ok {
		return where + ": it has no annotation " + AccessFromAnnotation + ", which cross-namespace references need"
	}
	var af v1alpha1.AccessFrom
	if err := yaml.UnmarshalStrict([]byte(v), &af); err != nil {
		return fmt.Sprintf("%s: its annotation %s: %v", where, AccessFromAnnotation, err)
	}
	if !accessAllowed(&af, set) {
		return where + ": the namespaceSelectors of its annotation " + AccessFromAnnotation + " match no label of the namespace"
	}
	return ""
}

// applyArgoSecrets makes the automations of set read their Git
// credentials where writeArgoSecrets writes them (argoSecretDir), and
// takes out of set those whose Secret they may not read. It returns why
// each Application taken out was, by its key.
func applyArgoSecrets(set *config.Set, states map[argoSecret]argoSecretState) map[objectKey]string {
	denied := map[objectKey]string{}
	set.RemoveAutomations(func(a *config.Automation) bool {
		s, ok := argoSecretOf(a)
		if !ok {
			return false
		}
		if why := states[s].denied; why != "" {
			denied[objectKey{"Application", a.ArgoCD.AppNamespace, a.ArgoCD.App}] = "write-back method git:secret:" + s.secret.String() + ": " + why
			return true
		}
		a.Spec.Git.SecretRef = &v1alpha1.LocalObjectReference{Name: argoSecretDir(s)}
		return false
	})
	return denied
}

// writeArgoSecrets writes each Secret of states that may be read into
// dir/argoSecretDir, where the loop reads it.
func writeArgoSecrets(dir string, states map[argoSecret]argoSecretState) error {
	for r, st := range states {
		if st.sec == nil || st.denied != "" {
			continue
		}
		d := filepath.Join(dir, argoSecretDir(r))
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("writing Secret %s: %w", r.secret, err)
		}
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("writing Secret %s: %w", r.secret, err)
		}
		for key, value := range st.sec.Data {
			if err := os.WriteFile(filepath.Join(d, key), value, 0o600); err != nil {
				return fmt.Errorf("writing key %s of Secret %s: %w", key, r.secret, err)
			}
		}
	}
	return nil
}

// argoSecretUsers are the automations of set whose Git credentials Secret
// changed between prev and cur (not on the first publish), to be run now.
func argoSecretUsers(set *config.Set, prev, cur map[argoSecret]argoSecretState) []objectKey {
	if prev == nil {
		return nil
	}
	version := func(st argoSecretState) string {
		if st.sec == nil {
			return ""
		}
		return st.sec.ResourceVersion
	}
	var out []objectKey
	for _, a := range set.Automations {
		s, ok := argoSecretOf(a)
		if !ok {
			continue
		}
		if old, seen := prev[s]; seen && version(old) != version(cur[s]) {
			out = append(out, objectKey{v1alpha1.ImageUpdateAutomationKind, a.Namespace, a.Name})
		}
	}
	return out
}

// usesArgoSecret reports whether the Applications of the configuration
// published last read the Secret k (git:secret).
func (d *documents) usesArgoSecret(k types.NamespacedName) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.argoRefs {
		if r.secret == k {
			return true
		}
	}
	return false
}

// argoDeniedAccess says why an Application was left out for its
// git:secret, or "".
func (d *documents) argoDeniedAccess(k objectKey) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.argoDenied[k]
}
