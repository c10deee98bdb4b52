package automation_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// TestScanSelectsEachRepositoryAfterItsList checks that a repository's
// policies select (here: resolve the selected tag's digest) right after its
// tags are listed, before the next repository is listed, so that a scan
// holds at most Concurrency tag lists, not one per repository. The registry
// is a real one; its request log shows the order.
func TestScanSelectsEachRepositoryAfterItsList(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	var docs strings.Builder
	var want []string
	for i := range 4 {
		name := fmt.Sprintf("app%d", i)
		reg.PushImage(t, "team/"+name, "1.0.0", testenv.ImageOptions{})
		fmt.Fprintf(&docs, `---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: %[1]s, namespace: apps}
spec: {image: %[2]s}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: %[1]s, namespace: apps}
spec:
  imageRepositoryRef: {name: %[1]s}
  policy: {semver: {range: '>=1'}}
  digestReflectionPolicy: Always
`, name, reg.Ref("team/"+name, ""))
		want = append(want, "list team/"+name, "manifest team/"+name)
	}
	set, err := config.Parse("hoist.yaml", []byte(docs.String()))
	if err != nil {
		t.Fatal(err)
	}
	client, err := registry.New(registry.WithRateLimit(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	reg.Faults.ResetLog()
	sels := (&automation.Scanner{Registry: client, Concurrency: 1}).Scan(t.Context(), set)
	for _, s := range sels {
		if s.Err != nil || s.Digest == "" {
			t.Fatalf("%s: digest %q, error %v", s.Key(), s.Digest, s.Err)
		}
	}

	var got []string
	for _, r := range reg.Faults.Log() {
		repo, kind := "", ""
		switch {
		case strings.HasSuffix(r.Path, "/tags/list"):
			repo, kind = strings.TrimSuffix(r.Path, "/tags/list"), "list"
		case strings.Contains(r.Path, "/manifests/"):
			repo, _, _ = strings.Cut(r.Path, "/manifests/")
			kind = "manifest"
		default:
			continue
		}
		got = append(got, kind+" "+strings.TrimPrefix(repo, "/v2/"))
	}
	// Concurrency 1 scans the repositories one at a time, in any order.
	for i := 0; i+1 < len(got); i += 2 {
		if !strings.HasPrefix(got[i], "list ") || got[i+1] != "manifest "+strings.TrimPrefix(got[i], "list ") {
			t.Fatalf("requests %q: want each repository's list followed by its manifest", got)
		}
	}
	sortPairs := func(s []string) string {
		var pairs []string
		for i := 0; i+1 < len(s); i += 2 {
			pairs = append(pairs, s[i]+", "+s[i+1])
		}
		slices.Sort(pairs)
		return strings.Join(pairs, "\n")
	}
	if diff := cmp.Diff(sortPairs(want), sortPairs(got)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestScanReusesSelectionOfUnchangedList: a rescan that lists the same tags
// answers a policy that needs nothing but the tags from the last selection;
// a new tag, a changed policy or an explanation selects again. The steps
// run in order on one Scanner against a real registry.
func TestScanReusesSelectionOfUnchangedList(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "team/app", "1.0.0", testenv.ImageOptions{})
	reg.TagMany(t, "team/app", d, []string{"1.1.0"})
	docs := func(rng string) *config.Set {
		set, err := config.Parse("hoist.yaml", []byte(fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app, namespace: apps}
spec: {image: %s}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app, namespace: apps}
spec:
  imageRepositoryRef: {name: app}
  policy: {semver: {range: '%s'}}
`, reg.Ref("team/app", ""), rng)))
		if err != nil {
			t.Fatal(err)
		}
		return set
	}
	client, err := registry.New(registry.WithRateLimit(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	s := &automation.Scanner{Registry: client}
	set := docs(">=1")
	// Unchanged counts the lists not decoded (the registry's answer had
	// the bytes of the last one, and the memo answered every policy).
	steps := []struct {
		name      string
		push      string // a tag pushed before the scan
		rng       string // the policy's range, reloaded, when set
		explain   bool
		wantTag   string
		wantHits  int
		unchanged int
		latest    []string
	}{
		{name: "first scan selects", wantTag: "1.1.0", wantHits: 0, unchanged: 0, latest: []string{"1.1.0", "1.0.0"}},
		{name: "same list: the last selection", wantTag: "1.1.0", wantHits: 1, unchanged: 1, latest: []string{"1.1.0", "1.0.0"}},
		{name: "a new tag: selects again", push: "1.2.0", wantTag: "1.2.0", wantHits: 1, unchanged: 1, latest: []string{"1.2.0", "1.1.0", "1.0.0"}},
		{name: "same list again", wantTag: "1.2.0", wantHits: 2, unchanged: 2, latest: []string{"1.2.0", "1.1.0", "1.0.0"}},
		{name: "the policy changed: selects again", rng: "<1.2.0", wantTag: "1.1.0", wantHits: 2, unchanged: 2, latest: []string{"1.2.0", "1.1.0", "1.0.0"}},
		{name: "the changed policy, same list", wantTag: "1.1.0", wantHits: 3, unchanged: 3, latest: []string{"1.2.0", "1.1.0", "1.0.0"}},
		{name: "an explanation selects again", explain: true, wantTag: "1.1.0", wantHits: 3, unchanged: 3, latest: []string{"1.2.0", "1.1.0", "1.0.0"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.push != "" {
				reg.TagMany(t, "team/app", d, []string{st.push})
			}
			if st.rng != "" {
				set = docs(st.rng)
			}
			s.Explain = st.explain
			sels := s.Scan(t.Context(), set)
			if len(sels) != 1 || sels[0].Err != nil {
				t.Fatalf("selections %+v", sels)
			}
			type outcome struct {
				Tag        string
				Hits       int
				Unchanged  int
				Explain    bool
				LatestTags []string
				TagCount   int
			}
			got := outcome{sels[0].Tag, automation.SelectionMemoHits(s), automation.UnchangedLists(s), len(sels[0].Explain) > 0, sels[0].LatestTags, sels[0].TagCount}
			want := outcome{st.wantTag, st.wantHits, st.unchanged, st.explain, st.latest, len(st.latest)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestScannerForget: a policy or repository that left the configuration
// leaves the scanner's memos; those still there stay.
func TestScannerForget(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	var docs strings.Builder
	for _, name := range []string{"one", "two"} {
		reg.PushImage(t, "team/"+name, "1.0.0", testenv.ImageOptions{})
		fmt.Fprintf(&docs, `---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: %[1]s, namespace: apps}
spec: {image: %[2]s}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: %[1]s, namespace: apps}
spec:
  imageRepositoryRef: {name: %[1]s}
  policy: {semver: {range: '>=1'}}
`, name, reg.Ref("team/"+name, ""))
	}
	both, err := config.Parse("hoist.yaml", []byte(docs.String()))
	if err != nil {
		t.Fatal(err)
	}
	client, err := registry.New(registry.WithRateLimit(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	s := &automation.Scanner{Registry: client}
	s.Scan(t.Context(), both)
	one := &config.Set{Policies: both.Policies[:1], Repositories: both.Repositories[:1]}
	type counts struct{ Policies, Lists int }
	var got []counts
	for _, set := range []*config.Set{both, one, both} {
		s.Forget(set)
		p, l := automation.Remembered(s)
		got = append(got, counts{p, l})
	}
	if diff := cmp.Diff([]counts{{2, 2}, {1, 1}, {1, 1}}, got); diff != "" {
		t.Errorf("remembered after each Forget (-want +got):\n%s", diff)
	}
}
