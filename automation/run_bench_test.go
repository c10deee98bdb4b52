package automation_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// BenchmarkRunAutomation compares the two ways an automation run gets the
// selections of its 50 policies, against a real registry (CNCF
// Distribution) and Git server (git http-backend) on 127.0.0.1, with the
// registry client's default limits (10 requests a second per host, burst
// 10), when nothing changed since the last run:
//
//   - scan: Runner.Run lists every policy's tags again, as `hoist run
//     --once` does;
//   - known: Runner.RunKnown writes the selections the service's
//     repository scans recorded.
//
// Both fetch the Git repository and look at its files; registry-req/op is
// the difference that the time follows.
func BenchmarkRunAutomation(b *testing.B) {
	const n = 50
	reg := testenv.NewRegistry(b, testenv.RegistryOptions{})
	gitSrv := testenv.NewGitServer(b, testenv.GitServerOptions{})
	bare := gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(b, bare, "main")

	var docs strings.Builder
	fmt.Fprintf(&docs, `apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: bench}
spec:
  git:
    url: %s
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
`, gitSrv.RepoURL("fleet.git"))
	files := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("app%02d", i)
		reg.PushImage(b, "bench/"+name, "1.0.0", testenv.ImageOptions{})
		fmt.Fprintf(&docs, `---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: %[1]s, namespace: bench}
spec: {image: %[2]s}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: %[1]s, namespace: bench}
spec:
  imageRepositoryRef: {name: %[1]s}
  policy: {semver: {range: '>=1'}}
`, name, reg.Ref("bench/"+name, ""))
		files[name+".yaml"] = fmt.Sprintf("image: %s # {\"$imagepolicy\": \"bench:%s\"}\n", reg.Ref("bench/"+name, "1.0.0"), name)
	}
	testenv.GitCommitFiles(b, bare, "main", "initial", files)
	set, err := config.Parse("hoist.yaml", []byte(docs.String()))
	if err != nil {
		b.Fatal(err)
	}

	var requests atomic.Int64
	client, err := registry.New(registry.WithRequestObserver(func(registry.RequestInfo) { requests.Add(1) }))
	if err != nil {
		b.Fatal(err)
	}
	scanner := &automation.Scanner{Registry: client}
	// What the service's repository scans recorded.
	known := map[*v1alpha1.ImagePolicy]string{}
	for _, sel := range scanner.Scan(b.Context(), set) {
		if sel.Err != nil {
			b.Fatal(sel.Err)
		}
		known[set.Policy(sel.Namespace, sel.Name).ImagePolicy] = sel.Ref
	}
	knownFn := func(p *config.Policy) (string, bool) {
		ref, ok := known[p.ImagePolicy]
		return ref, ok
	}

	for _, mode := range []string{"scan", "known"} {
		b.Run(mode, func(b *testing.B) {
			runner := &automation.Runner{Scanner: scanner, StateDir: b.TempDir()}
			run := func() automation.RunResult {
				if mode == "known" {
					return runner.RunKnown(b.Context(), set, set.Automations[0], knownFn)
				}
				return runner.Run(b.Context(), set, set.Automations[0])
			}
			if res := run(); res.Failed() || !res.NothingToDo { // the clone
				b.Fatalf("first run: %v %v, nothing to do %v", res.Err, res.Errors, res.NothingToDo)
			}
			before := requests.Load()
			for b.Loop() {
				if res := run(); res.Failed() || !res.NothingToDo {
					b.Fatalf("run: %v %v, nothing to do %v", res.Err, res.Errors, res.NothingToDo)
				}
			}
			b.ReportMetric(float64(requests.Load()-before)/float64(b.N), "registry-req/op")
		})
	}
}
