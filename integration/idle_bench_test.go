//go:build bench

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// idleRepos is how many image repositories BenchmarkIdleCost watches.
const idleRepos = 500

// BenchmarkIdleCost measures what hoist costs when nothing changes: a
// service watching 500 ImageRepositories (one registry, one tag each) with
// 500 policies and one automation over a Git repository of 500 manifests.
// After warm-up (every repository scanned once, the automation run once,
// the startup spread over), it reads the process's CPU time and resident
// memory from /proc over a window (HOIST_IDLE_WINDOW, default 60s) and
// reports CPU as a percentage of one core, resident memory (mean and max
// over the window) and, from /metrics, heap, goroutines and registry
// requests per second. Two cases of the ImageRepositories' interval (the
// automation keeps the default, 5m): 30s, so that polling happens during
// the window (about 17 scans per second, each repository twice), and the
// default (5m), where nothing is due during the window.
//
// hoist runs with --registry-rps 100: at the default (10 requests per
// second per host) one host's 500 repositories take 50s to scan, an
// interval of 30s cannot be kept, and the start-up takes minutes (each
// automation run lists the tags of all 500 repositories again, and the
// first scans, each a selection change, queue run after run). Idle cost
// does not depend on that limit; the start-up time with it is logged.
// The benchmark runs once per case whatever b.N is.
func BenchmarkIdleCost(b *testing.B) {
	window := time.Minute
	if s := os.Getenv("HOIST_IDLE_WINDOW"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			b.Fatalf("HOIST_IDLE_WINDOW=%q: want a positive duration such as 60s", s)
		}
		window = d
	}
	for _, interval := range []string{"30s", "default"} {
		b.Run(fmt.Sprintf("repositories=%d/interval=%s", idleRepos, interval), func(b *testing.B) {
			benchIdleCost(b, interval, window)
		})
	}
}

func benchIdleCost(b *testing.B, interval string, window time.Duration) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("no /proc: CPU and memory are read from /proc/PID/stat")
	}
	reg := testenv.NewRegistry(b, testenv.RegistryOptions{})
	name := func(i int) string { return fmt.Sprintf("app%03d", i) }
	reg.PushImage(b, "idle/"+name(0), "1.0.0", testenv.ImageOptions{})
	for i := 1; i < idleRepos; i++ {
		reg.CopyRepository(b, "idle/"+name(0), "idle/"+name(i))
	}
	gitSrv := testenv.NewGitServer(b, testenv.GitServerOptions{})
	bare := gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(b, bare, "main")
	files := map[string]string{}
	for i := range idleRepos {
		files["apps/"+name(i)+".yaml"] = deploymentYAML(name(i), reg.Ref("idle/"+name(i), "1.0.0"), "idle:"+name(i))
	}
	testenv.GitCommitFiles(b, bare, "main", "initial", files)
	head := testenv.GitHead(b, bare, "main")

	every := ""
	if interval != "default" {
		every = ", interval: " + interval
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: idle}
spec: {url: %s, ref: {branch: main}}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: idle}
spec:
  sourceRef: {kind: GitRepository, name: fleet}
  git:
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
  update: {path: ./apps, strategy: Setters}
`, gitSrv.RepoURL("fleet.git"))
	for i := range idleRepos {
		fmt.Fprintf(&cfg, "---\napiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageRepository\nmetadata: {name: %s, namespace: idle}\nspec: {image: %s%s}\n",
			name(i), reg.Ref("idle/"+name(i), ""), every)
		fmt.Fprintf(&cfg, "---\napiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImagePolicy\nmetadata: {name: %s, namespace: idle}\nspec:\n  imageRepositoryRef: {name: %s}\n  policy: {semver: {range: '>=1.0.0'}}\n",
			name(i), name(i))
	}
	dir := b.TempDir()
	writeFile(b, filepath.Join(dir, "config", "hoist.yaml"), cfg.String())
	started := time.Now()
	svc := startHoist(b, freeAddr(b), []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state")},
		"-c", filepath.Join(dir, "config"), "--log-level", "info", "--registry-rps", "100")

	// Warm up: every repository scanned, the automation run, the startup
	// spread over, and no selection changed for 15s, so that the runs of
	// the automation the first scans queued (each a selection change) are
	// over.
	deadline := time.Now().Add(5 * time.Minute)
	var changed float64
	changedAt := time.Now()
	for {
		m := svc.metrics()
		if c := m.sum("hoist_selections_changed_total"); c != changed {
			changed, changedAt = c, time.Now()
		}
		if m.sum("hoist_scans_total") >= idleRepos && m.sum("hoist_automation_last_success_timestamp_seconds") > 0 &&
			time.Since(started) > startupSettle+5*time.Second && time.Since(changedAt) > 15*time.Second {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("hoist did not scan %d repositories and run its automation within 5m: %v scans (%v failed), automation last success %v",
				idleRepos, m.sum("hoist_scans_total"), m.sum("hoist_scans_total", `result="error"`), m.sum("hoist_automation_last_success_timestamp_seconds"))
		}
		time.Sleep(time.Second)
	}
	warmUp := time.Since(started)
	b.ResetTimer()

	m0, u0, t0 := svc.metrics(), svc.usage(), time.Now()
	var rssSum, rssMax float64
	samples := 0
	for t := time.Now(); time.Since(t) < window; {
		time.Sleep(min(5*time.Second, window-time.Since(t)))
		rss := float64(svc.usage().rss)
		rssSum += rss
		rssMax = max(rssMax, rss)
		samples++
	}
	u1, t1 := svc.usage(), time.Now()
	m1 := svc.metrics()
	b.StopTimer()
	if h := testenv.GitHead(b, bare, "main"); h != head {
		b.Errorf("nothing changed, yet hoist moved main from %s to %s", head, h)
	}
	svc.stop()

	wall := t1.Sub(t0)
	cpu := 100 * float64(u1.cpu-u0.cpu) / float64(wall)
	requests := m1.sum("hoist_registry_requests_total") - m0.sum("hoist_registry_requests_total")
	scans := m1.sum("hoist_scans_total") - m0.sum("hoist_scans_total")
	failed := m1.sum("hoist_scans_total", `result="error"`) - m0.sum("hoist_scans_total", `result="error"`)
	if failed > 0 {
		b.Errorf("%v scans failed during the window", failed)
	}
	b.ReportMetric(cpu, "cpu-%")
	b.ReportMetric(rssSum/float64(samples)/mib, "rss-MiB")
	b.ReportMetric(rssMax/mib, "rss-max-MiB")
	b.ReportMetric(m1.sum("go_memstats_heap_alloc_bytes")/mib, "heap-MiB")
	b.ReportMetric(m1.sum("go_goroutines"), "goroutines")
	b.ReportMetric(requests/wall.Seconds(), "registry-req/s")
	b.ReportMetric(scans/wall.Seconds(), "scans/s")
	b.Logf("%d repositories, interval %s, warm-up %s, then over %s: CPU %s (%.2f%% of a core), resident %.1f MiB (max %.1f), heap %.1f MiB, %v goroutines, %v scans, %v registry requests",
		idleRepos, interval, warmUp.Round(time.Second), wall.Round(time.Millisecond), u1.cpu-u0.cpu, cpu, rssSum/float64(samples)/mib, rssMax/mib,
		m1.sum("go_memstats_heap_alloc_bytes")/mib, m1.sum("go_goroutines"), scans, requests)
}
