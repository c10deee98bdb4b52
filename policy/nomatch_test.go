package policy_test

import (
	"errors"
	"testing"

	"github.com/hoist-dev/hoist/policy"
)

// TestNoMatchMessage: the error counts the tags in the singular and the
// plural, and wraps ErrNoMatch.
func TestNoMatchMessage(t *testing.T) {
	p, err := policy.Compile(policy.Spec{Semver: &policy.SemverSpec{Range: ">=9"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		tags []string
		want string
	}{
		"none": {nil, "no tag matches: there are no tags to select from with policy semver:>=9"},
		"one":  {[]string{"1.0.0"}, "no tag matches: the only tag does not pass policy semver:>=9"},
		"two":  {[]string{"1.0.0", "2.0.0"}, "no tag matches: none of 2 tags passes policy semver:>=9"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := p.Select(tc.tags, policy.Options{})
			if !errors.Is(err, policy.ErrNoMatch) || err.Error() != tc.want {
				t.Errorf("Select(%q) = %v, want %q wrapping ErrNoMatch", tc.tags, err, tc.want)
			}
		})
	}
}
