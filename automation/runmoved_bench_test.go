package automation_test

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// movedRepo is the Git repository of BenchmarkRunAfterMovedHead: 25 update
// paths of 20 Deployments (500 manifests, as each of BenchmarkScale10k's
// 20 repositories holds), with a history of commits by other writers.
type movedRepo struct {
	srv  *testenv.GitServer
	bare string
	set  *config.Set
	n    int // commits by other writers so far
}

const (
	movedPaths   = 25
	movedPerPath = 20
	movedHistory = 300
	movedHost    = "registry.example.com"
	// movedOthers are the update paths the other writer leaves alone
	// (a000 to a004): those of the automations the benchmarks run.
	movedOthers = 5
)

func movedFile(d, i int) string { return fmt.Sprintf("a%03d/app%03d%02d.yaml", d, d, i) }

func movedContent(d, i, version int) string {
	name := fmt.Sprintf("app%03d%02d", d, i)
	return fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: %s/bench/%s:1.0.%d # {\"$imagepolicy\": \"bench:%s\"}\n",
		name, movedHost, name, version, name)
}

// newMovedRepo makes the repository (git fast-import, then one pack, as a
// server holds it) and the configuration of its first autos automations,
// a000, a001, ..., each with 20 policies that select from a registry nobody
// asks (the run knows the selections).
func newMovedRepo(b *testing.B, autos int) *movedRepo {
	b.Helper()
	r := &movedRepo{srv: testenv.NewGitServer(b, testenv.GitServerOptions{})}
	r.bare = r.srv.RepoDir("fleet.git")
	testenv.GitInitBare(b, r.bare, "main")
	var s bytes.Buffer
	fmt.Fprintf(&s, "commit refs/heads/main\ncommitter Gen <gen@example.com> 1700000000 +0000\ndata 7\ninitial\n")
	for d := range movedPaths {
		for i := range movedPerPath {
			c := movedContent(d, i, 0)
			fmt.Fprintf(&s, "M 100644 inline %s\ndata %d\n%s\n", movedFile(d, i), len(c), c)
		}
	}
	for range movedHistory {
		r.n++
		s.WriteString(r.otherCommit("")) // after the last in the stream
	}
	if _, err := testenv.GitCLIResult(r.bare, &s, "fast-import", "--quiet"); err != nil {
		b.Fatal(err)
	}
	testenv.GitCLI(b, r.bare, "repack", "-adq")

	var docs strings.Builder
	for d := range autos {
		fmt.Fprintf(&docs, `---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: a%03[2]d, namespace: bench}
spec:
  git:
    url: %[1]s
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
  policySelector: {matchLabels: {automation: a%03[2]d}}
  update: {path: ./a%03[2]d, strategy: Setters}
`, r.srv.RepoURL("fleet.git"), d)
		for i := range movedPerPath {
			fmt.Fprintf(&docs, `---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: app%03[3]d%02[1]d, namespace: bench}
spec: {image: %[2]s/bench/app%03[3]d%02[1]d}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: app%03[3]d%02[1]d, namespace: bench, labels: {automation: a%03[3]d}}
spec:
  imageRepositoryRef: {name: app%03[3]d%02[1]d}
  policy: {semver: {range: '>=1.0.0'}}
`, i, movedHost, d)
		}
	}
	set, err := config.Parse("hoist.yaml", []byte(docs.String()))
	if err != nil {
		b.Fatal(err)
	}
	r.set = set
	return r
}

// otherWriter commits a change of one file outside a000 to a004 on main, as
// the repository's other automations do, without going through HTTP.
func (r *movedRepo) otherWriter(b *testing.B) {
	b.Helper()
	r.n++
	stream := r.otherCommit("from refs/heads/main^0\n")
	if _, err := testenv.GitCLIResult(r.bare, strings.NewReader(stream), "fast-import", "--quiet"); err != nil {
		b.Fatal(err)
	}
}

// otherCommit is the fast-import stream of the other writer's commit
// number r.n on main, with from its parent's command.
func (r *movedRepo) otherCommit(from string) string {
	d, i := movedOthers+r.n%(movedPaths-movedOthers), r.n%movedPerPath
	c := movedContent(d, i, r.n)
	msg := fmt.Sprintf("other %d", r.n)
	return fmt.Sprintf("commit refs/heads/main\ncommitter Other <o@example.com> %d +0000\ndata %d\n%s\n%sM 100644 inline %s\ndata %d\n%s\n",
		1700000001+r.n, len(msg), msg, from, movedFile(d, i), len(c), c)
}

// heapInUse is the live heap after two collections (the second frees what
// the first moved out of sync.Pools).
func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkRunAfterMovedHead is one automation's run after a webhook, as
// in BenchmarkScale10k: another writer (another automation of the
// repository) moved the branch since the last run, and one of the run's 20
// selections is new, so the run fetches, moves the worktree, reads the
// update path's tree, plans, writes one file, commits, pushes and records
// the push in the state store. The Git server is real (git http-backend on
// 127.0.0.1); no registry is asked (the selections are known, as the
// service's are).
//
//   - reopen: every run opens the cached clone afresh (go-git then decodes
//     the pack's index again at its first object), as before;
//   - reuse: the Runner keeps the opened clone between runs.
//
// cpu-µs/op is this process's CPU (the in-process side of the Git server
// included, the same in both modes); kept-B is the heap the kept clone
// holds between runs (its packfiles' index and the objects read last).
func BenchmarkRunAfterMovedHead(b *testing.B) {
	r := newMovedRepo(b, 1)
	client, err := registry.New()
	if err != nil {
		b.Fatal(err)
	}
	// The selection's version grows across the modes: a lower one would
	// be a downgrade, kept back.
	version := 0
	for _, mode := range []string{"reopen", "reuse"} {
		b.Run(mode, func(b *testing.B) {
			runner, _ := stateRunner(b, client)
			if mode == "reopen" {
				automation.ReopenClonesEveryRun(runner)
			}
			known := func(p *config.Policy) (string, bool) {
				v := 0
				if p.Name == "app00000" {
					v = version
				}
				return fmt.Sprintf("%s/bench/%s:1.0.%d", movedHost, p.Name, v), true
			}
			run := func() {
				version++
				res := runner.RunKnown(b.Context(), r.set, r.set.Automations[0], known)
				if res.Failed() || !res.Pushed {
					b.Fatalf("run: %v %v, pushed %v", res.Err, res.Errors, res.Pushed)
				}
			}
			run() // the clone
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				b.StopTimer()
				r.otherWriter(b)
				b.StartTimer()
				run()
			}
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
			if mode == "reuse" {
				// What the kept clone holds: the heap it frees.
				held := heapInUse()
				automation.ForgetClones(runner)
				b.ReportMetric(float64(held-heapInUse()), "kept-B")
			}
		})
	}
}

// BenchmarkRunAfterOtherWriter is the interval runs of five automations of
// one repository after another automation of it pushed, as the runs of
// BenchmarkScale10k's steady round are after its webhooks: the branch
// moved, but nothing under the runs' update paths, and their selections
// are those of their last runs, which found nothing to do. The first run
// lists the remote's references, fetches the other writer's commit and
// moves the worktree; the others list the references and find the clone
// up to date. cpu-µs/op is the CPU of one run (the in-process side of the
// Git server included).
//
//   - commit: the memo of a run at rest is keyed by the commit, so each run
//     plans its 20 targets again to find nothing to write (as before);
//   - tree: a run whose commit moved compares its update path's tree, which
//     did not, and skips its edit.
func BenchmarkRunAfterOtherWriter(b *testing.B) {
	r := newMovedRepo(b, movedOthers)
	client, err := registry.New()
	if err != nil {
		b.Fatal(err)
	}
	known := func(p *config.Policy) (string, bool) {
		return fmt.Sprintf("%s/bench/%s:1.0.0", movedHost, p.Name), true
	}
	for _, mode := range []string{"commit", "tree"} {
		b.Run(mode, func(b *testing.B) {
			runner, _ := stateRunner(b, client)
			if mode == "commit" {
				automation.RestByCommit(runner)
			}
			runs := func() {
				for _, a := range r.set.Automations {
					res := runner.RunKnown(b.Context(), r.set, a, known)
					if res.Failed() || !res.NothingToDo {
						b.Fatalf("run of %s: %v %v, nothing to do %v", a.Name, res.Err, res.Errors, res.NothingToDo)
					}
				}
			}
			runs() // the clone
			skipped := automation.EditsSkipped(runner)
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				b.StopTimer()
				r.otherWriter(b)
				b.StartTimer()
				runs()
			}
			n := b.N * len(r.set.Automations)
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(n), "cpu-µs/run")
			if got := automation.EditsSkipped(runner) - skipped; (mode == "tree") != (got == n) {
				b.Fatalf("%s: %d of %d runs skipped their edit", mode, got, n)
			}
		})
	}
}
