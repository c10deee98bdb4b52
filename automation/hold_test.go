package automation

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/policy"
	"github.com/hoist-dev/hoist/writeback"
)

// TestWithoutManual: with respectManualChanges, a value a person changed
// stays until the selection is newer than both theirs and hoist's last.
func TestWithoutManual(t *testing.T) {
	written := map[string]string{"a.yaml": "r/x:1.3.0", "b.yaml": "r/x:1.3.0", "c.yaml": "r/x:aaa"}
	last := func(c writeback.Change) (string, bool) { v, ok := written[c.File]; return v, ok }
	f := policyFlags{manual: map[string]bool{"ns:p": true}}
	tests := map[string]struct {
		change writeback.Change
		kept   bool
	}{
		"rollback, same selection":       {writeback.Change{File: "a.yaml", Old: "r/x:1.2.0", New: "r/x:1.3.0", Policy: "ns:p"}, true},
		"rollback, newer selection":      {writeback.Change{File: "a.yaml", Old: "r/x:1.2.0", New: "r/x:1.3.1", Policy: "ns:p"}, false},
		"ahead by hand, newer than ours": {writeback.Change{File: "b.yaml", Old: "r/x:1.5.0", New: "r/x:1.4.0", Policy: "ns:p"}, true},
		"ahead by hand, newer than both": {writeback.Change{File: "b.yaml", Old: "r/x:1.5.0", New: "r/x:1.6.0", Policy: "ns:p"}, false},
		"not a version, same selection":  {writeback.Change{File: "c.yaml", Old: "r/x:zzz", New: "r/x:aaa", Policy: "ns:p"}, true},
		"not a version, new selection":   {writeback.Change{File: "c.yaml", Old: "r/x:zzz", New: "r/x:bbb", Policy: "ns:p"}, false},
		"hoist's own value":              {writeback.Change{File: "a.yaml", Old: "r/x:1.3.0", New: "r/x:1.4.0", Policy: "ns:p"}, false},
		"never written":                  {writeback.Change{File: "d.yaml", Old: "r/x:1.0.0", New: "r/x:1.1.0", Policy: "ns:p"}, false},
		"policy without the flag":        {writeback.Change{File: "a.yaml", Old: "r/x:1.2.0", New: "r/x:1.3.0", Policy: "ns:q"}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, held := withoutManual([]writeback.Change{tc.change}, f, last)
			if got := len(held) == 1; got != tc.kept || len(out)+len(held) != 1 {
				t.Fatalf("kept %v (%d written, %d held), want kept %v", got, len(out), len(held), tc.kept)
			}
			if tc.kept && (held[0].Reason != KeptManual || held[0].Written != written[tc.change.File]) {
				t.Errorf("held: %+v", held[0])
			}
		})
	}
}

// TestWithoutDowngrades: a semver policy's lower version is kept back,
// unless the policy allows downgrades; other rules are not guarded.
func TestWithoutDowngrades(t *testing.T) {
	semver, err := policy.Compile(policy.Spec{Semver: &policy.SemverSpec{Range: "^1"}})
	if err != nil {
		t.Fatal(err)
	}
	alpha, err := policy.Compile(policy.Spec{Alphabetical: &policy.OrderSpec{}})
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]*policy.Policy{"ns:s": semver, "ns:allow": semver, "ns:a": alpha}
	changes := []writeback.Change{
		{File: "1", Old: "r/x:1.5.0", New: "r/x:1.4.0", Policy: "ns:s"},
		{File: "2", Old: "r/x:1.5.0", New: "r/x:1.4.0", Policy: "ns:allow"},
		{File: "3", Old: "r/x:b", New: "r/x:a", Policy: "ns:a"},
		{File: "4", Old: "r/x:1.4.0", New: "r/x:1.5.0", Policy: "ns:s"},
	}
	kept, skipped := withoutDowngrades(changes, rules, map[string]bool{"ns:allow": true})
	var files []string
	for _, c := range kept {
		files = append(files, c.File)
	}
	if diff := cmp.Diff([]string{"2", "3", "4"}, files); diff != "" {
		t.Errorf("written (-want +got):\n%s", diff)
	}
	if len(skipped) != 1 || skipped[0].File != "1" || skipped[0].Reason != KeptDowngrade {
		t.Errorf("kept back: %+v", skipped)
	}
}

// TestGroups: the group and the branch of a change, per groupBy.
func TestGroups(t *testing.T) {
	a := &config.Automation{ImageUpdateAutomation: &v1alpha1.ImageUpdateAutomation{ObjectMeta: metav1.ObjectMeta{Name: "prod", Namespace: "apps"}}}
	withPrefix := &config.Automation{ImageUpdateAutomation: &v1alpha1.ImageUpdateAutomation{
		ObjectMeta: metav1.ObjectMeta{Name: "prod", Namespace: "apps"},
		Spec:       v1alpha1.ImageUpdateAutomationSpec{Git: &v1alpha1.GitSpec{Push: &v1alpha1.PushSpec{Branch: "updates"}}},
	}}
	tests := map[string]struct {
		a          *config.Automation
		by         v1alpha1.PullRequestGroupBy
		change     writeback.Change
		group, ref string
	}{
		"policy":                 {a, v1alpha1.GroupByPolicy, writeback.Change{File: "x/a.yaml", Policy: "apps:web"}, "web", "hoist/prod/web"},
		"policy of another ns":   {a, v1alpha1.GroupByPolicy, writeback.Change{File: "x/a.yaml", Policy: "infra:db"}, "infra-db", "hoist/prod/infra-db"},
		"annotated workload":     {a, v1alpha1.GroupByPolicy, writeback.Change{Policy: "inline:r/x:1#semver:^1", Object: writeback.Object{Name: "api"}}, "api", "hoist/prod/api"},
		"path":                   {a, v1alpha1.GroupByPath, writeback.Change{File: "clusters/prod/web/a.yaml", Policy: "apps:web"}, "clusters/prod/web", "hoist/prod/clusters-prod-web"},
		"path at the root":       {a, v1alpha1.GroupByPath, writeback.Change{File: "a.yaml"}, "root", "hoist/prod/root"},
		"odd characters":         {a, v1alpha1.GroupByPath, writeback.Change{File: "a b/.hidden/x..y~/c.lock/f.yaml"}, "a b/.hidden/x..y~/c.lock", "hoist/prod/a-b-hidden-x.y--c"},
		"push.branch the prefix": {withPrefix, v1alpha1.GroupByPolicy, writeback.Change{Policy: "apps:web"}, "web", "updates/web"},
	}
	// Nested directories: neither branch may be the other's directory, or
	// Git refuses the second (a regression: hoist/prod/clusters/prod and
	// hoist/prod/clusters/prod/web).
	outer, inner := groupBranch(a, "clusters/prod"), groupBranch(a, "clusters/prod/web")
	if strings.HasPrefix(inner, outer+"/") || strings.HasPrefix(outer, inner+"/") {
		t.Errorf("branches %q and %q cannot both exist in Git", outer, inner)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			g := groupOf(tc.by, tc.a, tc.change)
			if g != tc.group {
				t.Errorf("group %q, want %q", g, tc.group)
			}
			if ref := groupBranch(tc.a, g); ref != tc.ref {
				t.Errorf("branch %q, want %q", ref, tc.ref)
			}
		})
	}
}
