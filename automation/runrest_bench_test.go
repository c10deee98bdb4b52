package automation_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// BenchmarkRunAtRest runs one automation of the service at rest, as
// BenchmarkScale10k's are: its update path holds 20 Deployments (the Git
// repository holds 25 such paths), the service knows the selections of its
// 20 policies, and nothing changed since the last run, so the run fetches,
// plans and finds nothing to do. The Git server is real (git http-backend
// on 127.0.0.1); no registry is asked; the state store
// records the run's success, as the service's does.
//
//   - parse: the repository's documents under the update path are walked
//     and parsed on every run, and every run edits (what every run cost
//     before);
//   - cached: the documents are remembered at the commit, so a run whose
//     checkout did not move parses nothing, but every run still edits:
//     plans every target to find nothing to write;
//   - rest: the run's edit is skipped too, as the last one, at the same
//     commit with the same selections, changed nothing (the service's
//     default).
func BenchmarkRunAtRest(b *testing.B) {
	const paths, perPath = 25, 20
	gitSrv := testenv.NewGitServer(b, testenv.GitServerOptions{})
	bare := gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(b, bare, "main")
	const host = "registry.example.com"
	var docs strings.Builder
	fmt.Fprintf(&docs, `apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: a000, namespace: bench}
spec:
  git:
    url: %s
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
  policySelector: {matchLabels: {automation: a000}}
  update: {path: ./a000, strategy: Setters}
`, gitSrv.RepoURL("fleet.git"))
	files := map[string]string{}
	known := map[string]string{}
	for d := range paths {
		for i := range perPath {
			name := fmt.Sprintf("app%03d%02d", d, i)
			ref := fmt.Sprintf("%s/bench/%s:1.0.0", host, name)
			files[fmt.Sprintf("a%03d/%s.yaml", d, name)] = fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: %s # {\"$imagepolicy\": \"bench:%s\"}\n", name, ref, name)
			if d != 0 {
				continue
			}
			known["bench:"+name] = ref
			fmt.Fprintf(&docs, `---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: %[1]s, namespace: bench}
spec: {image: %[2]s/bench/%[1]s}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: %[1]s, namespace: bench, labels: {automation: a000}}
spec:
  imageRepositoryRef: {name: %[1]s}
  policy: {semver: {range: '>=1.0.0'}}
`, name, host)
		}
	}
	testenv.GitCommitFiles(b, bare, "main", "initial", files)
	set, err := config.Parse("hoist.yaml", []byte(docs.String()))
	if err != nil {
		b.Fatal(err)
	}
	knownFn := func(p *config.Policy) (string, bool) {
		ref, ok := known[p.Namespace+":"+p.Name]
		return ref, ok
	}
	client, err := registry.New()
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"parse", "cached", "rest"} {
		b.Run(mode, func(b *testing.B) {
			runner, _ := stateRunner(b, client)
			if mode == "parse" {
				automation.ReadDocumentsEveryRun(runner)
			}
			if mode != "rest" {
				automation.EditEveryRun(runner)
			}
			run := func() {
				if res := runner.RunKnown(b.Context(), set, set.Automations[0], knownFn); res.Failed() || !res.NothingToDo {
					b.Fatalf("run: %v %v, nothing to do %v", res.Err, res.Errors, res.NothingToDo)
				}
			}
			run() // the clone
			skipped := automation.EditsSkipped(runner)
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				run()
			}
			// The process's CPU, the in-process side of the Git server
			// included (the same in both modes).
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
			if n := automation.EditsSkipped(runner) - skipped; (mode == "rest") != (n == b.N) {
				b.Fatalf("%s: %d of %d runs skipped their edit", mode, n, b.N)
			}
		})
	}
}
