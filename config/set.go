package config

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/policy"
)

// DefaultNamespace is the namespace of objects whose metadata names none.
const DefaultNamespace = "default"

// Source says where an object was read.
type Source struct {
	// File is the path of the file, as given to Load or Parse.
	File string
	// Line is the 1-based line where the object's document starts.
	Line int
	// APIVersion is the document's apiVersion as written. The object itself
	// is always of hoist.dev/v1alpha1.
	APIVersion string
	// Flux is true when APIVersion is one of Flux's groups, whose semantics
	// differ in places (semver ranges accept only three-part versions).
	Flux bool
}

// Repository is an ImageRepository and where it was read.
type Repository struct {
	*v1alpha1.ImageRepository
	Source Source
}

// Policy is an ImagePolicy, where it was read, the ImageRepository it names
// and its compiled rule.
type Policy struct {
	*v1alpha1.ImagePolicy
	Source Source
	// Repository is the ImageRepository named by spec.imageRepositoryRef.
	Repository *Repository
	// Compiled is PolicySpec of the policy and Repository, compiled.
	Compiled *policy.Policy
}

// Automation is an ImageUpdateAutomation and where it was read.
type Automation struct {
	*v1alpha1.ImageUpdateAutomation
	Source Source
	// GitRepository is the object named by spec.sourceRef; nil when the
	// automation names its repository inline in spec.git.url.
	GitRepository *GitRepository
	// ArgoCD is set for an automation converted from an Argo CD
	// Application: its images are written where Argo CD reads them, not
	// through markers (see docs/argocd.md).
	ArgoCD *ArgoCD
}

// GitRepository is a GitRepository and where it was read.
type GitRepository struct {
	*v1alpha1.GitRepository
	Source Source
}

// Receiver is a Receiver and where it was read.
type Receiver struct {
	*v1alpha1.Receiver
	Source Source
}

// Set is the valid result of Load or Parse. Each slice holds the objects of
// one kind in the order they were read. Defaults are filled in; objects with
// spec.suspend are included (callers honour suspend).
//
// A Set from Load or Parse is indexed once, when it is loaded: its lookups
// by name (Repository, Policy, ...), PoliciesFor and ReceiverRepositories
// cost a map access, not a walk of every object. Do not change its slices
// afterwards (the index would not see it); a Set built by hand has no index,
// and its lookups walk the slices.
type Set struct {
	Repositories    []*Repository
	Policies        []*Policy
	Automations     []*Automation
	GitRepositories []*GitRepository
	Receivers       []*Receiver
	Providers       []*Provider
	Alerts          []*Alert
	// Warnings name fields that were accepted but are not acted on.
	Warnings []Warning
	// ArgoCDKubeEventsOff is kube.events: "false" in Argo CD Image
	// Updater's ConfigMap: no Kubernetes events on Applications.
	ArgoCDKubeEventsOff bool

	index *setIndex
}

// objectKey is an object's namespace and name.
type objectKey struct{ namespace, name string }

// setIndex is a Set's objects by key, and its repositories and policies by
// namespace, in the order they were read.
type setIndex struct {
	repos       map[objectKey]*Repository
	policies    map[objectKey]*Policy
	automations map[objectKey]*Automation
	gitRepos    map[objectKey]*GitRepository
	receivers   map[objectKey]*Receiver
	nsRepos     map[string][]*Repository
	nsPolicies  map[string][]*Policy

	// labelOnce builds labelPolicies on the first PoliciesFor: the policies
	// of a namespace by one of their labels, key "NS\x00KEY=VALUE". A
	// Set is read by many runs at once; Load does not pay for it when no
	// automation selects by label.
	labelOnce     sync.Once
	labelPolicies map[string][]*Policy
}

func labelKey(ns, k, v string) string { return ns + "\x00" + k + "=" + v }

// policiesLabelled returns the policies of namespace ns with label k=v, in
// the order they were read.
func (ix *setIndex) policiesLabelled(ns, k, v string) []*Policy {
	ix.labelOnce.Do(func() {
		ix.labelPolicies = map[string][]*Policy{}
		for ns, ps := range ix.nsPolicies {
			for _, p := range ps {
				for k, v := range p.Labels {
					key := labelKey(ns, k, v)
					ix.labelPolicies[key] = append(ix.labelPolicies[key], p)
				}
			}
		}
	})
	return ix.labelPolicies[labelKey(ns, k, v)]
}

// candidates returns the policies of namespace ns that sel can match: those
// with the label of sel's narrowest equality requirement, or else every
// policy of ns. The caller still matches each against sel.
func (ix *setIndex) candidates(ns string, sel labels.Selector) []*Policy {
	out := ix.nsPolicies[ns]
	reqs, ok := sel.Requirements()
	if !ok {
		return out
	}
	for _, r := range reqs {
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
		default:
			continue
		}
		vals := r.Values()
		if vals.Len() != 1 {
			continue
		}
		if c := ix.policiesLabelled(ns, r.Key(), vals.UnsortedList()[0]); len(c) < len(out) {
			out = c
		}
	}
	return out
}

// buildIndex indexes s; the first of two objects with one key wins, as the
// walks find it (Load refuses such duplicates anyway).
func (s *Set) buildIndex() {
	ix := &setIndex{
		repos:       make(map[objectKey]*Repository, len(s.Repositories)),
		policies:    make(map[objectKey]*Policy, len(s.Policies)),
		automations: make(map[objectKey]*Automation, len(s.Automations)),
		gitRepos:    make(map[objectKey]*GitRepository, len(s.GitRepositories)),
		receivers:   make(map[objectKey]*Receiver, len(s.Receivers)),
		nsRepos:     map[string][]*Repository{},
		nsPolicies:  map[string][]*Policy{},
	}
	for _, o := range s.Repositories {
		putFirst(ix.repos, o.ObjectMeta, o)
		ix.nsRepos[o.Namespace] = append(ix.nsRepos[o.Namespace], o)
	}
	for _, o := range s.Policies {
		putFirst(ix.policies, o.ObjectMeta, o)
		ix.nsPolicies[o.Namespace] = append(ix.nsPolicies[o.Namespace], o)
	}
	for _, o := range s.Automations {
		putFirst(ix.automations, o.ObjectMeta, o)
	}
	for _, o := range s.GitRepositories {
		putFirst(ix.gitRepos, o.ObjectMeta, o)
	}
	for _, o := range s.Receivers {
		putFirst(ix.receivers, o.ObjectMeta, o)
	}
	s.index = ix
}

func putFirst[T any](m map[objectKey]T, meta metav1.ObjectMeta, o T) {
	k := objectKey{meta.Namespace, meta.Name}
	if _, ok := m[k]; !ok {
		m[k] = o
	}
}

// find looks an object up in the index m when the Set has one (ok), else
// reports that the caller must walk.
func find[T any](ix *setIndex, m func(*setIndex) map[objectKey]T, namespace, name string) (o T, ok bool) {
	if ix == nil {
		return o, false
	}
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return m(ix)[objectKey{namespace, name}], true
}

// empty reports whether s holds no object and no warning.
func (s *Set) empty() bool {
	return len(s.Repositories)+len(s.Policies)+len(s.Automations)+len(s.GitRepositories)+len(s.Receivers)+len(s.Providers)+len(s.Alerts)+len(s.Warnings) == 0
}

func sameObject(m metav1.ObjectMeta, namespace, name string) bool {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return m.Namespace == namespace && m.Name == name
}

// Repository returns the ImageRepository namespace/name, or nil. An empty
// namespace means DefaultNamespace; the same holds for the other lookups.
func (s *Set) Repository(namespace, name string) *Repository {
	if o, ok := find(s.index, func(ix *setIndex) map[objectKey]*Repository { return ix.repos }, namespace, name); ok {
		return o
	}
	for _, o := range s.Repositories {
		if sameObject(o.ObjectMeta, namespace, name) {
			return o
		}
	}
	return nil
}

// Policy returns the ImagePolicy namespace/name, or nil.
func (s *Set) Policy(namespace, name string) *Policy {
	if o, ok := find(s.index, func(ix *setIndex) map[objectKey]*Policy { return ix.policies }, namespace, name); ok {
		return o
	}
	for _, o := range s.Policies {
		if sameObject(o.ObjectMeta, namespace, name) {
			return o
		}
	}
	return nil
}

// RemoveAutomations takes the automations for which drop reports true out
// of s (and of its index): the controller leaves out those whose Git
// credentials may not be read.
func (s *Set) RemoveAutomations(drop func(*Automation) bool) {
	s.Automations = slices.DeleteFunc(s.Automations, drop)
	if s.index != nil {
		s.buildIndex()
	}
}

// Automation returns the ImageUpdateAutomation namespace/name, or nil.
func (s *Set) Automation(namespace, name string) *Automation {
	if o, ok := find(s.index, func(ix *setIndex) map[objectKey]*Automation { return ix.automations }, namespace, name); ok {
		return o
	}
	for _, o := range s.Automations {
		if sameObject(o.ObjectMeta, namespace, name) {
			return o
		}
	}
	return nil
}

// GitRepository returns the GitRepository namespace/name, or nil.
func (s *Set) GitRepository(namespace, name string) *GitRepository {
	if o, ok := find(s.index, func(ix *setIndex) map[objectKey]*GitRepository { return ix.gitRepos }, namespace, name); ok {
		return o
	}
	for _, o := range s.GitRepositories {
		if sameObject(o.ObjectMeta, namespace, name) {
			return o
		}
	}
	return nil
}

// Receiver returns the Receiver namespace/name, or nil.
func (s *Set) Receiver(namespace, name string) *Receiver {
	if o, ok := find(s.index, func(ix *setIndex) map[objectKey]*Receiver { return ix.receivers }, namespace, name); ok {
		return o
	}
	for _, o := range s.Receivers {
		if sameObject(o.ObjectMeta, namespace, name) {
			return o
		}
	}
	return nil
}

// PoliciesFor returns the policies that the automation applies: those in its
// namespace matching its spec.policySelector (all of them when it has none),
// in the order they were read. Suspended policies are included.
func (s *Set) PoliciesFor(a *Automation) ([]*Policy, error) {
	sel, err := PolicySelector(a.ImageUpdateAutomation)
	if err != nil {
		return nil, err
	}
	policies := s.Policies
	if s.index != nil {
		policies = s.index.candidates(a.Namespace, sel)
	}
	var out []*Policy
	for _, p := range policies {
		if p.Namespace == a.Namespace && sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out, nil
}

// PolicySelector returns the selector of the ImagePolicies an automation
// applies: spec.policySelector, or everything when it is not set (Flux's
// semantics; metav1.LabelSelectorAsSelector would select nothing).
func PolicySelector(a *v1alpha1.ImageUpdateAutomation) (labels.Selector, error) {
	if a.Spec.PolicySelector == nil {
		return labels.Everything(), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(a.Spec.PolicySelector)
	if err != nil {
		return nil, fmt.Errorf("policySelector of ImageUpdateAutomation %s/%s: %w", a.Namespace, a.Name, err)
	}
	return sel, nil
}

// ReceiverRepositories returns the ImageRepositories a Receiver's
// spec.resources select, in the order the resources list them and without
// duplicates: a named ImageRepository, or those of the namespace ("*": every
// namespace) whose labels match matchLabels when the name is "*". A named
// resource's matchLabels are ignored, as Flux ignores them. Other kinds of
// hoist (ImagePolicy, ImageUpdateAutomation, GitRepository) select nothing
// but must exist; Flux's kinds are skipped. A resource that does not exist,
// or a name "*" without matchLabels, is an error naming it, as Flux fails
// the request.
func (s *Set) ReceiverRepositories(rc *Receiver) ([]*Repository, error) {
	var out []*Repository
	seen := map[*Repository]bool{}
	add := func(r *Repository) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	for i, ref := range rc.Spec.Resources {
		ns := ref.Namespace
		if ns == "" {
			ns = rc.Namespace
		}
		if ok, _ := receiverKind(ref.Kind); !ok {
			continue
		}
		if ref.Name == "*" {
			if len(ref.MatchLabels) == 0 {
				return nil, fmt.Errorf("receiver %s/%s: spec.resources[%d]: name \"*\" needs matchLabels", rc.Namespace, rc.Name, i)
			}
			if ref.Kind != v1alpha1.ImageRepositoryKind {
				continue
			}
			sel := labels.SelectorFromSet(ref.MatchLabels)
			repos := s.Repositories
			if s.index != nil && ns != "*" {
				repos = s.index.nsRepos[ns]
			}
			for _, r := range repos {
				if (ns == "*" || r.Namespace == ns) && sel.Matches(labels.Set(r.Labels)) {
					add(r)
				}
			}
			continue
		}
		if ref.Kind == v1alpha1.ImageRepositoryKind {
			r := s.Repository(ns, ref.Name)
			if r == nil {
				return nil, fmt.Errorf("receiver %s/%s: %s %q not found in namespace %q", rc.Namespace, rc.Name, ref.Kind, ref.Name, ns)
			}
			add(r)
			continue
		}
		if !s.defined(ref.Kind, ns, ref.Name) {
			return nil, fmt.Errorf("receiver %s/%s: %s %q not found in namespace %q", rc.Namespace, rc.Name, ref.Kind, ref.Name, ns)
		}
	}
	return out, nil
}

// defined says whether the object of a kind of hoist exists.
func (s *Set) defined(kind, namespace, name string) bool {
	switch kind {
	case v1alpha1.ImageRepositoryKind:
		return s.Repository(namespace, name) != nil
	case v1alpha1.ImagePolicyKind:
		return s.Policy(namespace, name) != nil
	case v1alpha1.ImageUpdateAutomationKind:
		return s.Automation(namespace, name) != nil
	case v1alpha1.GitRepositoryKind:
		return s.GitRepository(namespace, name) != nil
	}
	return false
}

// ResourceDocument returns an object as the document a resourceFilter sees
// as res: apiVersion (as written, else hoist's), kind, metadata and spec,
// as JSON would decode them.
func ResourceDocument(o *v1alpha1.ImageRepository, apiVersion string) map[string]any {
	doc := map[string]any{}
	if data, err := json.Marshal(o); err == nil {
		_ = json.Unmarshal(data, &doc)
	}
	if apiVersion == "" {
		apiVersion = v1alpha1.APIVersion
	}
	doc["apiVersion"] = apiVersion
	doc["kind"] = v1alpha1.ImageRepositoryKind
	delete(doc, "status")
	return doc
}
