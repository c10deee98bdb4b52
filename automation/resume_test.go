package automation_test

import (
	"fmt"
	"testing"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/policy"
	"github.com/hoist-dev/hoist/registry"
)

// fingerprintDocs is an ImageRepository and its ImagePolicy, with the
// fields that TestFingerprint varies.
type fingerprintDocs struct {
	apiVersion, image, exclusion, interval, rule string
}

func (d fingerprintDocs) policy(t *testing.T) *config.Policy {
	t.Helper()
	set, err := config.Parse("hoist.yaml", fmt.Appendf(nil, `apiVersion: %[1]s
kind: ImageRepository
metadata: {name: app, namespace: apps}
spec: {image: %[2]s, interval: %[4]s, exclusionList: [%[3]q]}
---
apiVersion: %[1]s
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy: %[5]s
`, d.apiVersion, d.image, d.exclusion, d.interval, d.rule))
	if err != nil {
		t.Fatal(err)
	}
	return set.Policy("apps", "app")
}

// TestFingerprint: the fingerprint changes with what selects (the
// policy's spec, the exclusion list, the image, the API group's semver
// semantics) and only with that.
func TestFingerprint(t *testing.T) {
	base := fingerprintDocs{"hoist.dev/v1alpha1", "ghcr.io/org/app", "^.*\\.sig$", "5m", "{semver: {range: '>=1'}}"}
	with := func(edit func(*fingerprintDocs)) fingerprintDocs {
		d := base
		edit(&d)
		return d
	}
	tests := map[string]struct {
		docs fingerprintDocs
		same bool
	}{
		"same documents":     {docs: base, same: true},
		"another interval":   {docs: with(func(d *fingerprintDocs) { d.interval = "1h" }), same: true},
		"another range":      {docs: with(func(d *fingerprintDocs) { d.rule = "{semver: {range: '>=2'}}" })},
		"another rule":       {docs: with(func(d *fingerprintDocs) { d.rule = "{alphabetical: {order: asc}}" })},
		"another exclusion":  {docs: with(func(d *fingerprintDocs) { d.exclusion = "^rc" })},
		"another image":      {docs: with(func(d *fingerprintDocs) { d.image = "ghcr.io/org/other" })},
		"Flux's API version": {docs: with(func(d *fingerprintDocs) { d.apiVersion = "image.toolkit.fluxcd.io/v1beta2" })},
	}
	want := automation.Fingerprint(base.policy(t))
	if len(want) != 64 {
		t.Fatalf("Fingerprint = %q, want 64 hex digits", want)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := automation.Fingerprint(tc.docs.policy(t))
			if (got == want) != tc.same {
				t.Errorf("Fingerprint = %s, base %s; want the same: %v", got, want, tc.same)
			}
		})
	}
	if got := automation.Fingerprint(&config.Policy{}); got != "" {
		t.Errorf("Fingerprint of a policy without documents = %q, want empty", got)
	}
}

// TestScannerRemember: a selection remembered for a policy answers its
// scan when the tag list has the remembered sum, without selecting (the
// memo's hits; its counts are the remembered ones); another list, another
// compiled policy, or a policy that needs facts from the registry selects.
func TestScannerRemember(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	reg.PushImage(t, "apps/app", "1.0.0", testenv.ImageOptions{})
	reg.PushImage(t, "apps/app", "1.1.0", testenv.ImageOptions{})
	client, err := registry.New(registry.WithRateLimit(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	parse := func(rule string) *config.Set {
		t.Helper()
		set, err := config.Parse("hoist.yaml", fmt.Appendf(nil, `apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app, namespace: apps}
spec: {image: %s}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy: %s
`, reg.Ref("apps/app", ""), rule))
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	const semver = "{semver: {range: '>=1'}}"
	first := (&automation.Scanner{Registry: client}).Scan(t.Context(), parse(semver))[0]
	if first.Err != nil || first.Tag != "1.1.0" || first.TagsSum == ([32]byte{}) {
		t.Fatalf("first scan: tag %q, sum %x, error %v", first.Tag, first.TagsSum, first.Err)
	}
	otherSum := first.TagsSum
	otherSum[0]++
	// The remembered counts differ from the real ones (2 candidates), so
	// that a selection answered from the memo shows.
	remembered := policy.Result{Tag: "1.1.0", Candidates: 7, Dropped: 3}

	tests := map[string]struct {
		rule       string
		sum        [32]byte
		recompile  bool // the scanned set is parsed again after Remember
		wantHits   int
		wantCounts [2]int
	}{
		"same list":            {rule: semver, sum: first.TagsSum, wantHits: 1, wantCounts: [2]int{7, 3}},
		"another list":         {rule: semver, sum: otherSum, wantCounts: [2]int{2, 0}},
		"recompiled policy":    {rule: semver, sum: first.TagsSum, recompile: true, wantCounts: [2]int{2, 0}},
		"policy needing facts": {rule: "{newestBuild: {}}", sum: first.TagsSum, wantCounts: [2]int{2, 0}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			set := parse(tc.rule)
			s := &automation.Scanner{Registry: client}
			s.Remember(set.Policy("apps", "app"), tc.sum, remembered)
			if tc.recompile {
				set = parse(tc.rule)
			}
			sel := s.Scan(t.Context(), set)[0]
			if sel.Err != nil && tc.rule == semver {
				t.Fatal(sel.Err)
			}
			if got := automation.SelectionMemoHits(s); got != tc.wantHits {
				t.Errorf("memo hits = %d, want %d", got, tc.wantHits)
			}
			if tc.rule == semver {
				if got := [2]int{sel.Candidates, sel.Dropped}; got != tc.wantCounts || sel.Tag != "1.1.0" {
					t.Errorf("tag %q, candidates and dropped %v; want 1.1.0, %v", sel.Tag, got, tc.wantCounts)
				}
			}
		})
	}
}
