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
