package config_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/config"
)

// walked returns a Set of the same objects built by hand, which has no
// index: its lookups walk the slices, as every lookup did before the index.
func walked(s *config.Set) *config.Set {
	return &config.Set{Repositories: s.Repositories, Policies: s.Policies, Automations: s.Automations,
		GitRepositories: s.GitRepositories, Receivers: s.Receivers, Warnings: s.Warnings}
}

// scaleSet parses a configuration of repos ImageRepositories and as many
// ImagePolicies over 10 namespaces, with automations and receivers that
// select them by labels.
func scaleSet(tb testing.TB, repos, automations int) *config.Set {
	tb.Helper()
	var b strings.Builder
	for i := range repos {
		fmt.Fprintf(&b, `---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app%[1]d, namespace: ns%[2]d, labels: {team: t%[3]d}}
spec: {image: registry.example.com/app%[1]d}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app%[1]d, namespace: ns%[2]d, labels: {team: t%[3]d}}
spec:
  imageRepositoryRef: {name: app%[1]d}
  policy: {semver: {range: '^1'}}
`, i, i%10, i%50)
	}
	for i := range automations {
		fmt.Fprintf(&b, `---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: auto%[1]d, namespace: ns%[2]d}
spec:
  git: {url: 'https://git.example.com/fleet%[2]d.git', checkout: {ref: {branch: main}}, commit: {author: {email: hoist@example.com}}}
  update: {path: ./}
  policySelector: {matchLabels: {team: t%[3]d}}
`, i, i%10, i%50)
	}
	// Selectors the label index cannot narrow, or only by one of their
	// requirements: each must still select what a walk selects.
	for i, sel := range []string{
		`{matchExpressions: [{key: team, operator: In, values: [t0, t10]}]}`,
		`{matchExpressions: [{key: team, operator: NotIn, values: [t0]}]}`,
		`{matchExpressions: [{key: team, operator: Exists}], matchLabels: {team: t20}}`,
		`{matchLabels: {team: t30, missing: x}}`,
		`{matchExpressions: [{key: team, operator: In, values: [t40]}]}`,
		`{}`,
	} {
		fmt.Fprintf(&b, `---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: selector%[1]d, namespace: ns0}
spec:
  git: {url: 'https://git.example.com/fleet0.git', checkout: {ref: {branch: main}}, commit: {author: {email: hoist@example.com}}}
  update: {path: ./}
  policySelector: %[2]s
`, i, sel)
	}
	for i := range 10 {
		fmt.Fprintf(&b, `---
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: hook, namespace: ns%[1]d}
spec:
  type: generic
  secretRef: {name: token}
  resources:
    - {kind: ImageRepository, name: app%[1]d}
    - {kind: ImageRepository, name: "*", matchLabels: {team: t%[1]d}}
`, i)
	}
	set, err := config.Parse("scale.yaml", []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

// TestSetIndex: the index answers every lookup as a walk of the slices
// does, for objects that exist and names that do not.
func TestSetIndex(t *testing.T) {
	sets := map[string]*config.Set{"scale": scaleSet(t, 200, 20)}
	// Objects without a namespace are in DefaultNamespace, and so is a
	// lookup with none.
	defaults, err := config.Parse("defaults.yaml", []byte(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: web}
spec: {image: ghcr.io/acme/web}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: web}
spec:
  imageRepositoryRef: {name: web}
  policy: {semver: {range: '^1'}}
`))
	if err != nil {
		t.Fatal(err)
	}
	sets["default namespace"] = defaults
	for _, f := range []string{"hoist.yaml", "flux-v1.yaml", "flux-v1beta2.yaml"} {
		set, err := config.Load(filepath.Join("testdata", "valid", f))
		if err != nil {
			t.Fatal(err)
		}
		sets[f] = set
	}
	for name, set := range sets {
		t.Run(name, func(t *testing.T) {
			walk := walked(set)
			type key struct{ ns, name string }
			keys := []key{{"", "missing"}, {"default", "missing"}, {"nowhere", "app1"}}
			for _, r := range set.Repositories {
				keys = append(keys, key{r.Namespace, r.Name}, key{"", r.Name})
			}
			for _, p := range set.Policies {
				keys = append(keys, key{p.Namespace, p.Name}, key{"", p.Name})
			}
			for _, a := range set.Automations {
				keys = append(keys, key{a.Namespace, a.Name})
			}
			for _, g := range set.GitRepositories {
				keys = append(keys, key{g.Namespace, g.Name})
			}
			for _, r := range set.Receivers {
				keys = append(keys, key{r.Namespace, r.Name})
			}
			for _, k := range keys {
				if set.Repository(k.ns, k.name) != walk.Repository(k.ns, k.name) ||
					set.Policy(k.ns, k.name) != walk.Policy(k.ns, k.name) ||
					set.Automation(k.ns, k.name) != walk.Automation(k.ns, k.name) ||
					set.GitRepository(k.ns, k.name) != walk.GitRepository(k.ns, k.name) ||
					set.Receiver(k.ns, k.name) != walk.Receiver(k.ns, k.name) {
					t.Errorf("lookups of %s/%s differ from the walk's", k.ns, k.name)
				}
			}
			for _, a := range set.Automations {
				got, errGot := set.PoliciesFor(a)
				want, errWant := walk.PoliciesFor(a)
				if diff := cmp.Diff(keysOf(want), keysOf(got)); diff != "" || (errGot == nil) != (errWant == nil) {
					t.Errorf("PoliciesFor(%s/%s): %v, walk %v (-walk +index):\n%s", a.Namespace, a.Name, errGot, errWant, diff)
				}
			}
			for _, rc := range set.Receivers {
				got, errGot := set.ReceiverRepositories(rc)
				want, errWant := walk.ReceiverRepositories(rc)
				if diff := cmp.Diff(keysOf(want), keysOf(got)); diff != "" || (errGot == nil) != (errWant == nil) {
					t.Errorf("ReceiverRepositories(%s/%s): %v, walk %v (-walk +index):\n%s", rc.Namespace, rc.Name, errGot, errWant, diff)
				}
			}
		})
	}
}

func keysOf[T interface {
	GetNamespace() string
	GetName() string
}](objs []T) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetNamespace()+"/"+o.GetName())
	}
	return out
}

// BenchmarkSetLookup compares the index with a walk of the slices, on a
// configuration of 10,000 ImageRepositories and ImagePolicies and 500
// automations: a lookup by name (the last object, the walk's worst case),
// the policies of every automation, and the repositories of a receiver
// that names one and selects the others by labels.
func BenchmarkSetLookup(b *testing.B) {
	set := scaleSet(b, 10000, 500)
	last := set.Policies[len(set.Policies)-1]
	for _, mode := range []struct {
		name string
		set  *config.Set
	}{{"indexed", set}, {"walk", walked(set)}} {
		s := mode.set
		b.Run("Policy/"+mode.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if s.Policy(last.Namespace, last.Name) == nil {
					b.Fatal("not found")
				}
			}
		})
		b.Run("PoliciesFor-every-automation/"+mode.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, a := range s.Automations {
					if _, err := s.PoliciesFor(a); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		b.Run("ReceiverRepositories/"+mode.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.ReceiverRepositories(s.Receivers[9]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
