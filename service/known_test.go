package service

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
)

// TestKnownSelections covers which scans an automation run may write
// instead of scanning again: only scans of the very documents running, or
// of documents a reload left as they were.
func TestKnownSelections(t *testing.T) {
	docs := func(rng, exclusion string) *config.Set {
		t.Helper()
		set, err := config.Parse("hoist.yaml", fmt.Appendf(nil, `apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app, namespace: apps}
spec: {image: ghcr.io/org/app, exclusionList: [%q]}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: %q}}
`, exclusion, rng))
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	sel := automation.Selection{Namespace: "apps", Name: "app", Ref: "ghcr.io/org/app:1.2.0"}
	newService := func(set *config.Set) *Service {
		s := &Service{o: ServiceOptions{Runner: &automation.Runner{}}, known: map[string]knownSelection{}}
		s.cur.Store(indexSet(set))
		return s
	}
	policy := func(set *config.Set) *config.Policy { return set.Policy("apps", "app") }

	tests := map[string]struct {
		// steps run against a service started on docs("^1", "^.*\\.sig$")
		// whose scan of the first policy returns sel. A reload rescans
		// the repositories of policies with no known selection.
		reload     *config.Set // nil: none
		lateScan   bool        // the scan returns after the reload
		wantKnown  bool        // the run on the running documents may write sel
		wantRescan []string    // repositories rescanned at the reload
	}{
		"no reload":                  {wantKnown: true},
		"reload, same documents":     {reload: docs("^1", "^.*\\.sig$"), wantKnown: true},
		"reload, new range":          {reload: docs("^2", "^.*\\.sig$"), wantRescan: []string{"apps/app"}},
		"reload, new exclusion list": {reload: docs("^1", "^rc"), wantRescan: []string{"apps/app"}},
		"late scan, same documents":  {reload: docs("^1", "^.*\\.sig$"), lateScan: true, wantKnown: true, wantRescan: []string{"apps/app"}},
		"late scan, new range":       {reload: docs("^2", "^.*\\.sig$"), lateScan: true, wantRescan: []string{"apps/app"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			first := docs("^1", "^.*\\.sig$")
			s := newService(first)
			if !tc.lateScan {
				s.recordSelection(policy(first), sel)
			}
			running := first
			var rescan []string
			if tc.reload != nil {
				ix := indexSet(tc.reload)
				old := s.cur.Swap(ix)
				rescan = s.carryKnown(old, ix)
				running = tc.reload
			}
			if tc.lateScan {
				s.recordSelection(policy(first), sel)
			}
			ref, ok := s.knownSelection(policy(running))
			if ok != tc.wantKnown || (ok && ref != sel.Ref) {
				t.Errorf("knownSelection = %q, %v; want known %v", ref, ok, tc.wantKnown)
			}
			if diff := cmp.Diff(tc.wantRescan, rescan); diff != "" {
				t.Errorf("rescanned at the reload (-want +got):\n%s", diff)
			}
		})
	}

	// The configuration's policies carried into an automation's effective
	// set by config.LoadOnto stay known.
	t.Run("LoadOnto keeps the configuration's documents", func(t *testing.T) {
		base := docs("^1", "^.*\\.sig$")
		s := newService(base)
		s.recordSelection(policy(base), sel)
		effective, err := config.LoadOnto(base, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		if ref, ok := s.knownSelection(policy(effective)); !ok || ref != sel.Ref {
			t.Errorf("knownSelection of the carried policy = %q, %v", ref, ok)
		}
	})
}
