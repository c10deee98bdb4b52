package policy_test

import (
	"fmt"

	"github.com/hoist-dev/hoist/policy"
)

func ExamplePolicy_Select() {
	p, err := policy.Compile(policy.Spec{
		Exclude: policy.DefaultExclusionList,
		Semver:  &policy.SemverSpec{Range: ">=6.0.0 <7.0.0"},
	})
	if err != nil {
		panic(err)
	}
	res, err := p.Select([]string{"6.0.0", "6.3.1", "7.0.0", "6.4.0-rc.1", "sha256-1.sig"}, policy.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Tag, res.Candidates, res.Dropped)
	// Output: 6.3.1 2 3
}

func ExampleParseShorthand() {
	spec, err := policy.ParseShorthand("minor", "1.4.2") // Keel's keel.sh/policy: minor
	if err != nil {
		panic(err)
	}
	fmt.Println(spec.Semver.Range)
	res, _ := policy.MustCompile(spec).Select([]string{"1.4.2", "1.9.0", "2.0.0"}, policy.Options{})
	fmt.Println(res.Tag)
	// Output:
	// >=1.4.2 <2.0.0
	// 1.9.0
}
