package config_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/policy"
)

func TestLoadDirectory(t *testing.T) {
	// The directory holds a README (not YAML, not read) and a .hidden
	// directory with an invalid document (skipped). Naming a file of the
	// directory again does not define its objects twice.
	set, err := config.Load("testdata/multi", "testdata/multi/repos.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var got []string
	for _, p := range set.Policies {
		got = append(got, p.Name+" -> "+p.Repository.Name+" at "+p.Repository.Source.File)
	}
	want := []string{
		"podinfo -> podinfo at testdata/multi/repos.yaml",
		"podinfo-other -> podinfo at testdata/multi/repos.yaml",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("policies (-want +got):\n%s", diff)
	}
	a := set.Automation("apps", "web")
	if a == nil {
		t.Fatal(`Automation("apps", "web") = nil`)
	}
	wantSource := config.Source{File: "testdata/multi/automation.yml", Line: 1, APIVersion: "image.toolkit.fluxcd.io/v1", Flux: true}
	if diff := cmp.Diff(wantSource, a.Source); diff != "" {
		t.Errorf("automation source (-want +got):\n%s", diff)
	}
	if a.GitRepository == nil || a.GitRepository.Source.File != "testdata/multi/repos.yaml" {
		t.Errorf("automation's GitRepository = %+v, want fleet of repos.yaml", a.GitRepository)
	}
	ps, err := set.PoliciesFor(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Name != "podinfo" {
		t.Errorf("PoliciesFor(web) = %v, want [podinfo]", names(ps))
	}
}

func names(ps []*config.Policy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	return out
}

func mustParse(t *testing.T, doc string) *config.Set {
	t.Helper()
	set, err := config.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return set
}

func TestDefaults(t *testing.T) {
	set := mustParse(t, `
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app}
spec: {image: nginx}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app}
spec:
  imageRepositoryRef: {name: app}
  policy: {alphabetical: {}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: app}
spec:
  git: {url: 'git@github.com:example/fleet.git', commit: {author: {email: a@example.com}}}
---
apiVersion: hoist.dev/v1alpha1
kind: GitRepository
metadata: {name: fleet}
spec: {url: 'file:///srv/git/fleet.git'}
`)
	t.Run("ImageRepository", func(t *testing.T) {
		want := v1alpha1.ImageRepositorySpec{
			Image:         "nginx",
			Interval:      metav1.Duration{Duration: 5 * time.Minute},
			Timeout:       &metav1.Duration{Duration: 60 * time.Second},
			ExclusionList: policy.DefaultExclusionList,
			Provider:      "generic",
		}
		r := set.Repository("", "app")
		if diff := cmp.Diff(want, r.Spec); diff != "" {
			t.Errorf("spec (-want +got):\n%s", diff)
		}
		if r.Namespace != "default" || r.APIVersion != "hoist.dev/v1alpha1" || r.Kind != "ImageRepository" {
			t.Errorf("namespace %q, TypeMeta %+v", r.Namespace, r.TypeMeta)
		}
	})
	t.Run("ImagePolicy", func(t *testing.T) {
		want := v1alpha1.ImagePolicySpec{
			ImageRepositoryRef:     v1alpha1.NamespacedObjectReference{Name: "app", Namespace: "default"},
			Policy:                 v1alpha1.ImagePolicyChoice{Alphabetical: &v1alpha1.AlphabeticalPolicy{}},
			DigestReflectionPolicy: v1alpha1.ReflectNever,
		}
		if diff := cmp.Diff(want, set.Policy("default", "app").Spec); diff != "" {
			t.Errorf("spec (-want +got):\n%s", diff)
		}
	})
	t.Run("ImageUpdateAutomation", func(t *testing.T) {
		a := set.Automation("", "app")
		want := &v1alpha1.UpdateStrategy{Strategy: v1alpha1.UpdateStrategySetters, Path: "."}
		if diff := cmp.Diff(want, a.Spec.Update); diff != "" {
			t.Errorf("update (-want +got):\n%s", diff)
		}
		if a.Spec.Interval.Duration != 5*time.Minute || a.GitRepository != nil {
			t.Errorf("interval %v, GitRepository %v", a.Spec.Interval, a.GitRepository)
		}
	})
	t.Run("GitRepository", func(t *testing.T) {
		g := set.GitRepository("default", "fleet")
		if g.Spec.Interval.Duration != 5*time.Minute || g.Spec.Timeout.Duration != time.Minute {
			t.Errorf("interval %v, timeout %v", g.Spec.Interval, g.Spec.Timeout)
		}
	})
}

func TestFluxSemverIsStrict(t *testing.T) {
	const doc = `
apiVersion: GROUP
kind: ImageRepository
metadata: {name: app}
spec: {image: ghcr.io/example/app}
---
apiVersion: GROUP
kind: ImagePolicy
metadata: {name: app}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: '>=1.0'}}
`
	tags := []string{"1.0.0", "1.2", "1.1.0"}
	tests := map[string]struct {
		group string
		want  string
	}{
		"hoist":        {"hoist.dev/v1alpha1", "1.2"},
		"flux v1":      {"image.toolkit.fluxcd.io/v1", "1.1.0"},
		"flux v1beta2": {"image.toolkit.fluxcd.io/v1beta2", "1.1.0"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			set := mustParse(t, strings.ReplaceAll(doc, "GROUP", tt.group))
			p := set.Policy("", "app")
			res, err := p.Compiled.Select(tags, policy.Options{})
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if res.Tag != tt.want {
				t.Errorf("Select(%v) = %q, want %q", tags, res.Tag, tt.want)
			}
		})
	}
}

func TestPolicySpec(t *testing.T) {
	repo := func(exclusions []string) *v1alpha1.ImageRepository {
		return &v1alpha1.ImageRepository{Spec: v1alpha1.ImageRepositorySpec{ExclusionList: exclusions}}
	}
	hour := &metav1.Duration{Duration: time.Hour}
	tests := map[string]struct {
		spec v1alpha1.ImagePolicySpec
		repo *v1alpha1.ImageRepository
		flux bool
		want policy.Spec
	}{
		"semver, hoist": {
			spec: v1alpha1.ImagePolicySpec{Policy: v1alpha1.ImagePolicyChoice{SemVer: &v1alpha1.SemVerPolicy{Range: "^1"}}},
			repo: repo([]string{"^x$"}),
			want: policy.Spec{Exclude: []string{"^x$"}, Semver: &policy.SemverSpec{Range: "^1"}},
		},
		"semver, Flux": {
			spec: v1alpha1.ImagePolicySpec{Policy: v1alpha1.ImagePolicyChoice{SemVer: &v1alpha1.SemVerPolicy{Range: "^1"}}},
			flux: true,
			want: policy.Spec{Exclude: policy.DefaultExclusionList, Semver: &policy.SemverSpec{Range: "^1", Strict: true}},
		},
		"no exclusions": {
			spec: v1alpha1.ImagePolicySpec{Policy: v1alpha1.ImagePolicyChoice{NewestBuild: &v1alpha1.NewestBuildPolicy{}}},
			repo: repo([]string{}),
			want: policy.Spec{Exclude: []string{}, NewestBuild: &policy.NewestBuildSpec{}},
		},
		"filters and facts": {
			spec: v1alpha1.ImagePolicySpec{
				FilterTags: &v1alpha1.TagFilter{Pattern: "^v(?P<v>.*)$", Extract: "$v", Glob: "v1.*"},
				Policy:     v1alpha1.ImagePolicyChoice{Alphabetical: &v1alpha1.AlphabeticalPolicy{Order: "desc"}},
				Platforms:  []string{"linux/amd64"},
				MinAge:     hour,
			},
			repo: repo(nil),
			want: policy.Spec{
				Exclude: policy.DefaultExclusionList, Pattern: "^v(?P<v>.*)$", Extract: "$v", Glob: "v1.*",
				Alphabetical: &policy.OrderSpec{Order: policy.Descending},
				Platforms:    []string{"linux/amd64"}, MinAge: time.Hour,
			},
		},
		"numerical": {
			spec: v1alpha1.ImagePolicySpec{Policy: v1alpha1.ImagePolicyChoice{Numerical: &v1alpha1.NumericalPolicy{Order: "asc"}}},
			want: policy.Spec{Exclude: policy.DefaultExclusionList, Numerical: &policy.OrderSpec{Order: policy.Ascending}},
		},
		"digest": {
			spec: v1alpha1.ImagePolicySpec{Policy: v1alpha1.ImagePolicyChoice{Digest: &v1alpha1.DigestPolicy{Tag: "latest"}}},
			want: policy.Spec{Exclude: policy.DefaultExclusionList, Digest: &policy.DigestSpec{Tag: "latest"}},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := config.PolicySpec(&v1alpha1.ImagePolicy{Spec: tt.spec}, tt.repo, tt.flux)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PolicySpec (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPoliciesFor(t *testing.T) {
	set := mustParse(t, `
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app, namespace: a}
spec: {image: ghcr.io/example/app}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: web, namespace: a, labels: {tier: web}}
spec: {imageRepositoryRef: {name: app}, policy: {semver: {range: '^1'}}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: db, namespace: a, labels: {tier: db}}
spec: {imageRepositoryRef: {name: app}, policy: {semver: {range: '^1'}}, suspend: true}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: web, namespace: b, labels: {tier: web}}
spec: {imageRepositoryRef: {name: app, namespace: a}, policy: {semver: {range: '^1'}}}
`)
	tests := map[string]struct {
		namespace string
		selector  *metav1.LabelSelector
		want      []string
	}{
		"no selector":      {"a", nil, []string{"a/web", "a/db"}},
		"empty selector":   {"a", &metav1.LabelSelector{}, []string{"a/web", "a/db"}},
		"match labels":     {"a", &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "web"}}, []string{"a/web"}},
		"other namespace":  {"b", nil, []string{"b/web"}},
		"no match":         {"a", &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "cache"}}, nil},
		"match expression": {"a", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"web"}}}}, []string{"a/db"}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			a := &config.Automation{ImageUpdateAutomation: &v1alpha1.ImageUpdateAutomation{
				ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: tt.namespace},
				Spec:       v1alpha1.ImageUpdateAutomationSpec{PolicySelector: tt.selector},
			}}
			got, err := set.PoliciesFor(a)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, names(got)); diff != "" {
				t.Errorf("PoliciesFor (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	set := mustParse(t, `apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app}
spec:
  image: ghcr.io/example/app
  accessFrom: {namespaceSelectors: [{matchLabels: {a: b}}]}
  serviceAccountName: ""
  proxySecretRef: null
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app}
spec:
  imageRepositoryRef: {name: app}
  policy: {digest: {tag: 1.10}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app2}
spec:
  imageRepositoryRef: {name: app}
  policy: {digest: {tag: yes}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app3}
spec:
  imageRepositoryRef: {name: app}
  policy: {digest: {tag: 1.5}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: ecr}
spec:
  image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app
  provider: aws
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: fleet}
spec:
  git:
    url: https://git.example.com/fleet.git
    checkout: {ref: {branch: main}}
    commit: {author: {email: hoist@example.com}}
    push:
      branch: hoist/fleet
      pullRequest: {autoMerge: true}
`)
	var got []string
	for _, w := range set.Warnings {
		got = append(got, w.String())
	}
	want := []string{
		`test.yaml:6: spec.accessFrom: field of Flux's API that hoist does not act on; ignored`,
		`test.yaml:15: spec.policy.digest.tag: unquoted 1.10 is read as "1.1" by Kubernetes tools; quote it to keep it as written`,
		`test.yaml:22: spec.policy.digest.tag: unquoted yes is read as "true" by Kubernetes tools; quote it to keep it as written`,
		`test.yaml:48: spec.git.push.pullRequest.autoMerge: not acted on: hoist opens and updates the pull request but never merges it; turn on auto-merge on the forge`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	// hoist keeps the value as written.
	if tag := set.Policy("", "app").Spec.Policy.Digest.Tag; tag != "1.10" {
		t.Errorf("tag = %q, want 1.10", tag)
	}
}

func TestAnchorsAndMerges(t *testing.T) {
	set := mustParse(t, `apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app}
spec: &spec
  image: ghcr.io/example/app
  interval: 1m
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, labels: &labels {tier: web}}
spec:
  imageRepositoryRef: {name: app}
  policy:
    <<: {semver: {range: '^1'}}
`)
	p := set.Policy("", "app")
	if p.Spec.Policy.SemVer == nil || p.Spec.Policy.SemVer.Range != "^1" {
		t.Errorf("merged policy = %+v", p.Spec.Policy)
	}
}

func TestAliasBomb(t *testing.T) {
	// Each level merges the one before ten times: 10^9 entries once
	// expanded. The document's node budget stops it.
	var b strings.Builder
	b.WriteString("apiVersion: hoist.dev/v1alpha1\nkind: ImageRepository\nmetadata:\n  name: x\n")
	b.WriteString("  annotations:\n    a0: &a0 {k: v}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "    a%d: &a%d {<<: [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("  labels: {<<: *a9}\nspec: {image: ghcr.io/example/x}\n")
	start := time.Now()
	_, err := config.Parse("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "too many aliases") {
		t.Errorf("Parse of an alias bomb: %v, want too many aliases", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Parse of an alias bomb took %v", d)
	}
}

func TestLookupDefaultNamespace(t *testing.T) {
	set := mustParse(t, `apiVersion: hoist.dev/v1alpha1
kind: Receiver
metadata: {name: hook}
spec:
  type: generic
  resources: [{kind: ImageRepository, name: app, namespace: other}]
  secretRef: {name: token}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app, namespace: other}
spec: {image: ghcr.io/example/app}
`)
	if set.Receiver("", "hook") == nil || set.Receiver("default", "hook") == nil {
		t.Error("Receiver lookup in the default namespace failed")
	}
	if set.Receiver("other", "hook") != nil || set.Repository("", "app") != nil {
		t.Error("lookup found an object that is not there")
	}
	if len(set.Warnings) != 0 {
		t.Errorf("warnings: %v", set.Warnings)
	}
}

// TestReceiverResources: a named resource that also has matchLabels is
// accepted with a warning (the name wins, as in Flux); "*" with matchLabels
// selects the ImageRepositories of the namespace by label.
func TestReceiverResources(t *testing.T) {
	set := mustParse(t, `apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: hook, namespace: apps}
spec:
  type: generic
  secretRef: {name: token}
  resources:
    - {kind: ImageRepository, name: web, matchLabels: {team: b}}
    - {kind: ImageRepository, name: "*", matchLabels: {team: a}}
    - {kind: ImageRepository, name: "*", namespace: "*", matchLabels: {tier: edge}}
    - {kind: ImagePolicy, name: web}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: web, namespace: apps, labels: {team: a}}
spec: {image: ghcr.io/acme/web}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: api, namespace: apps, labels: {team: a, tier: edge}}
spec: {image: ghcr.io/acme/api}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: db, namespace: apps, labels: {team: b}}
spec: {image: ghcr.io/acme/db}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: proxy, namespace: infra, labels: {team: a, tier: edge}}
spec: {image: ghcr.io/acme/proxy}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: web, namespace: apps}
spec:
  imageRepositoryRef: {name: web}
  policy: {semver: {range: ">=1.0.0"}}
`)
	var warnings []string
	for _, w := range set.Warnings {
		warnings = append(warnings, w.String())
	}
	wantWarnings := []string{`test.yaml:8: spec.resources[0].matchLabels: ignored: the resource is named "web" (labels select only with name "*"), as in Flux`}
	if diff := cmp.Diff(wantWarnings, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	repos, err := set.ReceiverRepositories(set.Receiver("apps", "hook"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range repos {
		got = append(got, r.Namespace+"/"+r.Name)
	}
	if diff := cmp.Diff([]string{"apps/web", "apps/api", "infra/proxy"}, got); diff != "" {
		t.Errorf("ReceiverRepositories (-want +got):\n%s", diff)
	}

	// Resources removed behind the validation's back: the error names
	// the missing one.
	tests := map[string]struct {
		ref  v1alpha1.CrossNamespaceObjectReference
		want string
	}{
		"missing":         {v1alpha1.CrossNamespaceObjectReference{Kind: "ImageRepository", Name: "gone"}, `receiver apps/hook: ImageRepository "gone" not found in namespace "apps"`},
		"other namespace": {v1alpha1.CrossNamespaceObjectReference{Kind: "ImageRepository", Name: "proxy"}, `receiver apps/hook: ImageRepository "proxy" not found in namespace "apps"`},
		"missing policy":  {v1alpha1.CrossNamespaceObjectReference{Kind: "ImagePolicy", Name: "gone", Namespace: "infra"}, `receiver apps/hook: ImagePolicy "gone" not found in namespace "infra"`},
		"star alone":      {v1alpha1.CrossNamespaceObjectReference{Kind: "ImageRepository", Name: "*"}, `receiver apps/hook: spec.resources[0]: name "*" needs matchLabels`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rc := *set.Receiver("apps", "hook")
			obj := rc.DeepCopy()
			obj.Spec.Resources = []v1alpha1.CrossNamespaceObjectReference{tc.ref}
			rc.Receiver = obj
			_, err := set.ReceiverRepositories(&rc)
			if err == nil || err.Error() != tc.want {
				t.Errorf("ReceiverRepositories: %v, want %s", err, tc.want)
			}
		})
	}
}
