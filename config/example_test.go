package config_test

import (
	"errors"
	"fmt"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/policy"
)

func ExampleParse() {
	set, err := config.Parse("podinfo.yaml", []byte(`
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: podinfo, namespace: apps}
spec:
  image: ghcr.io/stefanprodan/podinfo
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: podinfo, namespace: apps}
spec:
  imageRepositoryRef: {name: podinfo}
  filterTags: {pattern: '^v(?P<v>.*)$', extract: '$v'}
  policy: {semver: {range: '^6'}}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range set.Policies {
		res, err := p.Compiled.Select([]string{"v5.9.0", "v6.0.1", "v6.1.0", "v7.0.0", "v6.1.0.sig"}, policy.Options{})
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%s/%s: %s:%s (line %d of %s)\n", p.Namespace, p.Name, p.Repository.Spec.Image, res.Tag, p.Source.Line, p.Source.File)
	}
	// Output:
	// apps/podinfo: ghcr.io/stefanprodan/podinfo:v6.1.0 (line 8 of podinfo.yaml)
}

func ExampleParse_errors() {
	_, err := config.Parse("clusters/prod/policies.yaml", []byte(`apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: podinfo}
spec:
  imageRepositoryRef: {name: podinfo}
  filterTags: {pattern: '('}
  policy: {semver: {range: '^6'}, alphabetical: {}}
  minAge: soon
`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, config.ErrInvalid))
	var e *config.Error
	if errors.As(err, &e) {
		fmt.Printf("first: %s line %d field %s\n", e.File, e.Line, e.Field)
	}
	// Output:
	// clusters/prod/policies.yaml:5: spec.imageRepositoryRef.name: no ImageRepository "podinfo" in namespace "default"
	// clusters/prod/policies.yaml:6: spec.filterTags.pattern: compiling "(": error parsing regexp: missing closing ): `(`
	// clusters/prod/policies.yaml:7: spec.policy: exactly one rule is allowed, found semver and alphabetical
	// clusters/prod/policies.yaml:8: spec.minAge: parsing duration "soon": want a number and a unit, such as 90s, 5m or 1h30m
	// true
	// first: clusters/prod/policies.yaml line 5 field spec.imageRepositoryRef.name
}

func ExampleLoad() {
	set, err := config.Load("testdata/multi")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range set.Automations {
		policies, err := set.PoliciesFor(a)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("automation %s/%s writes to %s\n", a.Namespace, a.Name, a.GitRepository.Spec.URL)
		for _, p := range policies {
			fmt.Printf("  policy %s from %s:%d\n", p.Name, p.Source.File, p.Source.Line)
		}
	}
	// Output:
	// automation apps/web writes to https://github.com/example/fleet
	//   policy podinfo from testdata/multi/policies/podinfo.yaml:1
}

func ExampleSet_RemoveAutomations() {
	set, err := config.Parse("fleet.yaml", []byte(`
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: prod, namespace: apps}
spec:
  git: {url: https://git.example.com/fleet.git, checkout: {ref: {branch: main}}, commit: {author: {name: hoist, email: hoist@example.com}}}
  update: {path: ./prod}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: dev, namespace: apps}
spec:
  git: {url: https://git.example.com/fleet.git, checkout: {ref: {branch: main}}, commit: {author: {name: hoist, email: hoist@example.com}}}
  update: {path: ./dev}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	set.RemoveAutomations(func(a *config.Automation) bool { return a.Name == "dev" })
	fmt.Println(len(set.Automations), set.Automation("apps", "dev") == nil, set.Automation("apps", "prod") != nil)
	// Output: 1 true true
}
