package service

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/automation/state"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// BenchmarkFirstRunAfterRestart is a restart of the service on its state
// directory (a new process: registry client, scanner, Service, Load) and
// its automation's first run, with 20 policies whose documents did not
// change, against a real registry (CNCF Distribution) and Git server on
// 127.0.0.1; nothing changed, so the run has nothing to do:
//
//   - scan: the stored selections have no fingerprint (as an older hoist
//     wrote them), so the service knows none and the run scans its
//     policies itself;
//   - resumed: the service resumes them from the state store, and the run
//     writes them without asking the registry.
func BenchmarkFirstRunAfterRestart(b *testing.B) {
	const n = 20
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
    commit: {author: {email: hoist@example.com}}
`, gitSrv.RepoURL("fleet.git"))
	files := map[string]string{}
	var repos []string
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
		repos = append(repos, "bench/"+name)
	}
	testenv.GitCommitFiles(b, bare, "main", "initial", files)
	configPath := filepath.Join(b.TempDir(), "hoist.yaml")
	if err := os.WriteFile(configPath, []byte(docs.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	var requests atomic.Int64
	// life starts the service of one process on dir and runs its
	// automation once.
	life := func(dir string, scan bool) {
		st, err := state.Open(state.Path(dir), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = st.Close() }()
		client, err := registry.New(registry.WithRateLimit(0, 0), registry.WithRequestObserver(func(registry.RequestInfo) { requests.Add(1) }))
		if err != nil {
			b.Fatal(err)
		}
		obs := &observed{}
		svc, err := NewService(ServiceOptions{
			Runner:      &automation.Runner{Scanner: &automation.Scanner{Registry: client}, StateDir: dir, State: st},
			ConfigPaths: []string{configPath}, Registry: prometheus.NewRegistry(), Observer: obs,
		})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := svc.Load(); err != nil {
			b.Fatal(err)
		}
		if scan {
			for _, r := range repos {
				if err := svc.scanRepository(b.Context(), r); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := svc.flush(b.Context(), svc.gitKey("bench/fleet"), []string{"bench/fleet"}); err != nil {
			b.Fatal(err)
		}
		if res := obs.ran[0]; res.Failed() || !res.NothingToDo {
			b.Fatalf("run: %v %v, nothing to do %v", res.Err, res.Errors, res.NothingToDo)
		}
	}
	for _, mode := range []string{"scan", "resumed"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			life(dir, true) // the life before: scans, clones
			if mode == "scan" {
				st, err := state.Open(state.Path(dir), nil)
				if err != nil {
					b.Fatal(err)
				}
				recs, err := st.Selections()
				if err != nil {
					b.Fatal(err)
				}
				for key, rec := range recs {
					rec.Fingerprint = ""
					if err := st.PutSelection(key, rec); err != nil {
						b.Fatal(err)
					}
				}
				if err := st.Close(); err != nil {
					b.Fatal(err)
				}
			}
			before := requests.Load()
			b.ReportAllocs()
			for b.Loop() {
				life(dir, false)
			}
			b.ReportMetric(float64(requests.Load()-before)/float64(b.N), "registry-req/op")
		})
	}
}
