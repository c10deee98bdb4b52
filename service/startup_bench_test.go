package service

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/internal/testenv"
)

// startupTags serves, from memory, a tag list of 1,000 tags (1.0.0 to
// 1.39.24) for every repository, in one page, and the API version check.
// It stands in for a registry on purpose: BenchmarkStartup measures the
// service, not a registry, and a real one holding thousands of
// repositories would cost the machine more than hoist does (the
// correctness tests use a real one, internal/testenv).
type startupTags struct {
	body     []byte
	requests atomic.Int64
}

func newStartupTags() *startupTags {
	var b strings.Builder
	b.WriteString(`{"name":"bench/app","tags":[`)
	for minor := range 40 {
		for patch := range 25 {
			if minor+patch > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"1.%d.%d"`, minor, patch)
		}
	}
	b.WriteString("]}")
	return &startupTags{body: []byte(b.String())}
}

func (m *startupTags) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.requests.Add(1)
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.URL.Path == "/v2/" {
		_, _ = w.Write([]byte("{}"))
		return
	}
	if !strings.HasSuffix(r.URL.Path, "/tags/list") {
		http.Error(w, `{"errors":[{"code":"NAME_UNKNOWN"}]}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(m.body)
}

// startupCounter is the Observer that says when every repository was
// scanned once.
type startupCounter struct {
	want    int64
	scanned atomic.Int64
	failed  atomic.Int64
	done    chan struct{}
}

func (c *startupCounter) Scanned(_ string, sels []automation.Selection) {
	for _, s := range sels {
		if s.Err != nil {
			c.failed.Add(1)
		}
	}
	if c.scanned.Add(1) == c.want {
		close(c.done)
	}
}

func (c *startupCounter) Ran(automation.RunResult) {}

// BenchmarkStartup is a first start of the service on an empty state
// directory, as in BenchmarkScale10k at a fifth of its size: 2,000
// ImageRepositories of 1,000 tags on one registry host (startupTags), a
// semver policy each, and 100 automations of 20 policies over 4 Git
// repositories (git http-backend) that hold the newest tag already. It
// times Run to every repository's first scan with the loop's objects of
// hoist run (automation.New: registry client, cache and state store on
// disk, with its default --registry-concurrency 4 and parallelism 4):
//
//   - paced: --registry-rps 400 and --startup-spread 5s, the request count
//     over the rate limit (the first round of BenchmarkScale10k: 10,000
//     repositories at 400/s over a 30s spread): 5s at the least;
//   - unpaced: no rate limit, every first scan due at once: what the
//     service's lanes can do.
//
// Each with the selections written in the scan that made them
// (write-through: the scan holds one of the scheduler's lanes until its
// record is synced, as before the selectionWriter) and behind it
// (write-behind). Paced also as before the runs waited for their
// policies' first scans (runs-scan, with write-through: each first
// selection queues its automation's run, which lists the tags of the
// policies not yet scanned itself).
//
// One op is one start; scans/s is the pace reached, cpu-ms/scan the
// process's CPU time per scan (the in-memory registry's, the Git server's
// requests and the automations' runs included) and requests/scan the
// registry requests per scan (1 when no run lists tags again).
func BenchmarkStartup(b *testing.B) {
	const repos, autos, gits, rps = 2000, 100, 4, 400
	spread := time.Duration(repos) * time.Second / rps
	tags := newStartupTags()
	srv := httptest.NewServer(tags)
	b.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	name := func(i int) string { return fmt.Sprintf("app%05d", i) }
	autoOf := func(i int) int { return i / (repos / autos) }
	gitOf := func(a int) int { return a * gits / autos }
	var docs strings.Builder
	{
		gitSrv := testenv.NewGitServer(b, testenv.GitServerOptions{})
		for g := range gits {
			bare := gitSrv.RepoDir(fmt.Sprintf("fleet%02d.git", g))
			testenv.GitInitBare(b, bare, "main")
			work := b.TempDir()
			testenv.GitCLI(b, work, "init", "--quiet", "--initial-branch=main")
			for i := range repos {
				if gitOf(autoOf(i)) != g {
					continue
				}
				file := filepath.Join(work, fmt.Sprintf("a%03d", autoOf(i)), name(i)+".yaml")
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					b.Fatal(err)
				}
				content := fmt.Sprintf("image: %s/bench/%s:1.39.24 # {\"$imagepolicy\": \"bench:%s\"}\n", host, name(i), name(i))
				if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
					b.Fatal(err)
				}
			}
			testenv.GitCLI(b, work, "add", "--all")
			testenv.GitCLI(b, work, "commit", "--quiet", "-m", "initial")
			testenv.GitCLI(b, work, "push", "--quiet", "--no-verify", bare, "HEAD:refs/heads/main")
			fmt.Fprintf(&docs, "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: fleet%02d, namespace: bench}\nspec: {url: %s, ref: {branch: main}}\n",
				g, gitSrv.RepoURL(fmt.Sprintf("fleet%02d.git", g)))
		}
		for a := range autos {
			fmt.Fprintf(&docs, `---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageUpdateAutomation
metadata: {name: a%03[1]d, namespace: bench}
spec:
  sourceRef: {kind: GitRepository, name: fleet%02[2]d}
  policySelector: {matchLabels: {automation: a%03[1]d}}
  git:
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
  update: {path: ./a%03[1]d, strategy: Setters}
`, a, gitOf(a))
		}
	}
	for i := range repos {
		fmt.Fprintf(&docs, `---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: %[1]s, namespace: bench}
spec: {image: %[2]s/bench/%[1]s, insecure: true}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: %[1]s, namespace: bench, labels: {automation: a%03[3]d}}
spec:
  imageRepositoryRef: {name: %[1]s}
  policy: {semver: {range: '>=1.0.0'}}
`, name(i), host, autoOf(i))
	}
	configPath := filepath.Join(b.TempDir(), "hoist.yaml")
	if err := os.WriteFile(configPath, []byte(docs.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	type pace struct {
		name   string
		rps    float64
		spread time.Duration
	}
	paced, unpaced := pace{"paced", rps, spread}, pace{"unpaced", 0, -1}
	for _, mode := range []struct {
		pace
		way                    string
		runsScan, writeThrough bool
	}{
		{paced, "runs-scan", true, true},
		{paced, "write-through", false, true}, {paced, "write-behind", false, false},
		{unpaced, "write-through", false, true}, {unpaced, "write-behind", false, false},
	} {
		b.Run(mode.name+"/"+mode.way, func(b *testing.B) {
			var elapsed, cpu time.Duration
			var requests int64
			for b.Loop() {
				b.StopTimer()
				logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
				promReg := prometheus.NewRegistry()
				metrics, err := automation.NewMetrics(promReg)
				if err != nil {
					b.Fatal(err)
				}
				runner, err := automation.New(automation.Options{
					StateDir: b.TempDir(),
					Registry: automation.RegistryOptions{RateLimit: mode.rps, MaxConcurrency: 4, Logger: logger},
					Logger:   logger, Metrics: metrics,
				})
				if err != nil {
					b.Fatal(err)
				}
				seen := &startupCounter{want: int64(repos), done: make(chan struct{})}
				svc, err := NewService(ServiceOptions{
					Runner: runner, ConfigPaths: []string{configPath}, Registry: promReg,
					Metrics: metrics, Logger: logger, Observer: seen, StartupSpread: mode.spread,
					WatchInterval: time.Hour, Window: -1,
				})
				if err != nil {
					b.Fatal(err)
				}
				svc.writeThrough, svc.runsScan = mode.writeThrough, mode.runsScan
				if _, err := svc.Load(); err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(b.Context())
				stopped := make(chan error, 1)
				b.StartTimer()
				start, cpu0, req0 := time.Now(), cpuTime(), tags.requests.Load()
				go func() { stopped <- svc.Run(ctx) }()
				<-seen.done
				elapsed += time.Since(start)
				cpu += cpuTime() - cpu0
				requests += tags.requests.Load() - req0
				b.StopTimer()
				cancel()
				if err := <-stopped; err != nil {
					b.Fatal(err)
				}
				runner.Close()
				if n := seen.failed.Load(); n > 0 {
					b.Fatalf("%d policies failed", n)
				}
				b.StartTimer()
			}
			scans := float64(b.N * repos)
			b.ReportMetric(scans/elapsed.Seconds(), "scans/s")
			b.ReportMetric(float64(cpu.Microseconds())/1000/scans, "cpu-ms/scan")
			b.ReportMetric(float64(requests)/scans, "requests/scan")
		})
	}
}
