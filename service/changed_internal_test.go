package service

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/config"
)

// TestChangedAutomations: a reload runs the automations whose documents
// changed, not those it left as they were, new ones (their first run is
// spread) or suspended ones.
func TestChangedAutomations(t *testing.T) {
	auto := func(name, extra string) string {
		return `---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: ` + name + `, namespace: apps}
spec:
  git:
    url: https://git.example.com/fleet.git
    checkout: {ref: {branch: main}}
    commit: {author: {email: hoist@example.com}}
  update: {path: ./` + name + `}
` + extra
	}
	tests := map[string]struct {
		docs string // the reloaded documents of prod and staging ("" for the same)
		want []string
	}{
		"the same documents": {},
		"another interval": {
			docs: auto("prod", "  interval: 7m\n") + auto("staging", ""),
			want: []string{"apps/prod"},
		},
		"labels only": {
			docs: strings.Replace(auto("prod", ""), "namespace: apps}", "namespace: apps, labels: {team: a}}", 1) + auto("staging", ""),
		},
		"a new automation": {
			docs: auto("prod", "") + auto("staging", "") + auto("canary", ""),
		},
		"one suspended": {
			docs: auto("prod", "  suspend: true\n") + auto("staging", "  interval: 1m\n"),
			want: []string{"apps/staging"},
		},
	}
	parse := func(t *testing.T, docs string) *indexedSet {
		t.Helper()
		set, err := config.Parse("hoist.yaml", []byte(docs))
		if err != nil {
			t.Fatal(err)
		}
		return indexSet(set)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			old := parse(t, auto("prod", "")+auto("staging", ""))
			docs := tc.docs
			if docs == "" {
				docs = auto("prod", "") + auto("staging", "")
			}
			got := changedAutomations(old, parse(t, docs))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("automations run by the reload (-want +got):\n%s", diff)
			}
		})
	}
}
