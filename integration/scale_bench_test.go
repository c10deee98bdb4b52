//go:build bench

package integration

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// The shape of BenchmarkScale10k: 10,000 ImageRepositories of 1,000 tags
// on one registry host, one ImagePolicy each; 500 automations of 20
// policies, 25 of them on each of 20 Git repositories.
const (
	scaleRepos       = 10000
	scaleTags        = 1000
	scaleAutomations = 500
	scaleGits        = 20
	// scaleRPS is hoist's --registry-rps: start-up takes at least
	// scaleRepos requests / scaleRPS (one request a scan: a semver policy
	// needs the tag list only, in one page of 1,000).
	scaleRPS = 400
	// scaleWebhooks is how many webhooks are timed during the 5-minute
	// round, whatever b.N: one run of the benchmark takes several minutes,
	// so make bench runs it once (-benchtime 1x).
	scaleWebhooks = 100
)

// scaleNewest is the newest of the 1,000 tags every repository starts with
// (1.0.0 to 1.39.24), and what Git starts with.
const scaleNewest = "1.39.24"

// memRegistry serves tag lists from memory. At this scale it stands in for
// a registry on purpose: BenchmarkScale10k measures hoist, not the
// registry, and a real registry holding 10,000 repositories of 1,000 tags
// would cost the machine more than hoist does (the correctness tests use a
// real one, internal/testenv). It answers the API version check and tag
// lists, in one page whatever n asks (1,000 tags, hoist's page size, plus
// the few the benchmark pushes); nothing else.
type memRegistry struct {
	base     string // the 1,000 tags as JSON strings, comma-separated
	mu       sync.Mutex
	extra    map[string]string // repository → pushed tags, `,"2.0.1"...`
	requests atomic.Int64
}

func newMemRegistry() *memRegistry {
	var b strings.Builder
	for minor := range 40 {
		for patch := range 25 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%q", fmt.Sprintf("1.%d.%d", minor, patch))
		}
	}
	return &memRegistry{base: b.String(), extra: map[string]string{}}
}

// push adds a tag to repository repo.
func (m *memRegistry) push(repo, tag string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.extra[repo] += fmt.Sprintf(",%q", tag)
}

func (m *memRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.requests.Add(1)
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if r.URL.Path == "/v2/" {
		_, _ = w.Write([]byte("{}"))
		return
	}
	repo, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"), "/tags/list")
	if !ok || !strings.HasPrefix(repo, "scale/app") || r.Method != http.MethodGet {
		http.Error(w, `{"errors":[{"code":"NAME_UNKNOWN"}]}`, http.StatusNotFound)
		return
	}
	m.mu.Lock()
	extra := m.extra[repo]
	m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	var b bytes.Buffer
	b.Grow(len(m.base) + len(extra) + 64)
	fmt.Fprintf(&b, `{"name":%q,"tags":[%s%s]}`, repo, m.base, extra)
	_, _ = w.Write(b.Bytes())
}

// BenchmarkScale10k measures the service at the scale of issue 10: 10,000
// ImageRepositories (5m interval, the default) of 1,000 tags on one
// registry host (memRegistry), 10,000 ImagePolicies, and 500
// ImageUpdateAutomations over 20 Git repositories (git http-backend) of
// 500 manifests each, with one distribution Receiver for every repository.
//
// First start, empty state: the time from start to every first selection
// (10,000 "selection changed"), at the pace of --registry-rps 400 (hoist's
// default, 10 requests a second per host, would take 10,000 / 10 = 1,000s:
// the start-up is the request count over the limit) and the registry
// requests made until then (startup-req/repo: 1, the automations' runs
// wait for their policies' first scans instead of listing the tags
// again); then to every automation's first run; then resident memory and
// heap.
//
// Second start, on the state of the first, with --startup-spread 5m: every
// repository's first scan then comes at its place in a 5-minute round (33
// scans a second), as in the steady state of 5-minute intervals, and no
// selection changes. Over a window (HOIST_SCALE_WINDOW, default 45s) from
// 30s after start, CPU as a percentage of one core and resident memory;
// then, still during the round, scaleWebhooks webhooks (100), each a
// tag pushed to a random repository and a distribution notification posted
// to hoist, timed until hoist's commit is on the Git server
// (--commit-window 0). Then the whole second round (from 5m30s, 5
// minutes: HOIST_SCALE_STEADY_WINDOW): the steady state after the
// webhooks, where each rescan finds the list of 5 minutes before (but the
// 100 the webhooks pushed to) and each automation runs once on its
// interval, those of the Git repositories the webhooks' commits moved
// planning again (steady-cpu-%; the first round is cpu-%). Last, the third
// round (from 10m30s, as long): idle, nothing changed since the round
// before (idle-cpu-%). One run takes about 17 minutes. With HOIST_SCALE_PROFILE=DIR, CPU and heap profiles of each
// window and the second start's log (DIR/round.log) are written to DIR.
func BenchmarkScale10k(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("no /proc: CPU and memory are read from /proc/PID/stat")
	}
	window := envDuration(b, "HOIST_SCALE_WINDOW", 45*time.Second)
	steadyWindow := envDuration(b, "HOIST_SCALE_STEADY_WINDOW", 5*time.Minute)
	setupStart := time.Now()
	mem := newMemRegistry()
	regSrv := httptest.NewServer(mem)
	b.Cleanup(regSrv.Close)
	host := strings.TrimPrefix(regSrv.URL, "http://")
	repoName := func(i int) string { return fmt.Sprintf("app%05d", i) }
	image := func(i int) string { return host + "/scale/" + repoName(i) }
	perAuto := scaleRepos / scaleAutomations
	autoOf := func(i int) int { return i / perAuto }
	gitOf := func(a int) int { return a * scaleGits / scaleAutomations }
	autoName := func(a int) string { return fmt.Sprintf("a%03d", a) }
	gitName := func(g int) string { return fmt.Sprintf("fleet%02d", g) }
	manifest := func(i int) string { return autoName(autoOf(i)) + "/" + repoName(i) + ".yaml" }

	gitSrv := testenv.NewGitServer(b, testenv.GitServerOptions{})
	files := make([]map[string]string, scaleGits)
	for i := range scaleRepos {
		g := gitOf(autoOf(i))
		if files[g] == nil {
			files[g] = map[string]string{}
		}
		files[g][manifest(i)] = deploymentYAML(repoName(i), image(i)+":"+scaleNewest, "scale:"+repoName(i))
	}
	var wg sync.WaitGroup
	for g := range scaleGits {
		wg.Go(func() {
			bare := gitSrv.RepoDir(gitName(g) + ".git")
			testenv.GitInitBare(b, bare, "main")
			// One git add for the 500 files (GitCommitFiles runs one a
			// file).
			work := b.TempDir()
			testenv.GitCLI(b, work, "init", "--quiet", "--initial-branch=main")
			for name, content := range files[g] {
				writeFile(b, filepath.Join(work, filepath.FromSlash(name)), content)
			}
			testenv.GitCLI(b, work, "add", "--all")
			testenv.GitCLI(b, work, "commit", "--quiet", "-m", "initial")
			testenv.GitCLI(b, work, "push", "--quiet", "--no-verify", bare, "HEAD:refs/heads/main")
		})
	}
	wg.Wait()

	var cfg strings.Builder
	doc := func(format string, args ...any) { fmt.Fprintf(&cfg, "---\n"+format, args...) }
	for g := range scaleGits {
		doc("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: %s, namespace: scale}\nspec: {url: %s, ref: {branch: main}}\n",
			gitName(g), gitSrv.RepoURL(gitName(g)+".git"))
	}
	for a := range scaleAutomations {
		doc(`apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageUpdateAutomation
metadata: {name: %[1]s, namespace: scale}
spec:
  sourceRef: {kind: GitRepository, name: %[2]s}
  policySelector: {matchLabels: {automation: %[1]s}}
  git:
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
  update: {path: ./%[1]s, strategy: Setters}
`, autoName(a), gitName(gitOf(a)))
	}
	resources := make([]string, scaleRepos)
	for i := range scaleRepos {
		resources[i] = fmt.Sprintf("{kind: ImageRepository, name: %s}", repoName(i))
		doc("apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageRepository\nmetadata: {name: %s, namespace: scale}\nspec: {image: %s}\n",
			repoName(i), image(i))
		doc("apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImagePolicy\nmetadata: {name: %s, namespace: scale, labels: {automation: %s}}\nspec:\n  imageRepositoryRef: {name: %s}\n  policy: {semver: {range: '>=1.0.0'}}\n",
			repoName(i), autoName(autoOf(i)), repoName(i))
	}
	const token = "scale-hook-token"
	doc("apiVersion: hoist.dev/v1alpha1\nkind: Receiver\nmetadata: {name: registry, namespace: scale}\nspec:\n  type: distribution\n  resources: [%s]\n  secretRef: {name: hook}\n",
		strings.Join(resources, ", "))
	dir := b.TempDir()
	writeFile(b, filepath.Join(dir, "config", "hoist.yaml"), cfg.String())
	writeFile(b, filepath.Join(dir, "secrets", "hook", "token"), token)
	env := []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state"), "HOIST_SECRETS_DIR=" + filepath.Join(dir, "secrets")}
	args := []string{"-c", filepath.Join(dir, "config"), "--log-level", "info", "--registry-rps", fmt.Sprint(scaleRPS), "--commit-window", "0"}
	b.Logf("setup: %s (configuration %.1f MiB)", time.Since(setupStart).Round(time.Millisecond), float64(cfg.Len())/mib)

	// First start: every first selection, every automation's first run.
	// With HOIST_SCALE_PROFILE=DIR, a CPU profile of its first 45s too
	// (DIR/startup-cpu.prof).
	profileDir := os.Getenv("HOIST_SCALE_PROFILE")
	first, firstAddr := args, freeAddr(b)
	if profileDir != "" {
		first = append(slices.Clone(args), "--pprof")
	}
	req0 := mem.requests.Load()
	started := time.Now()
	svc := startHoist(b, firstAddr, env, first...)
	ready := time.Since(started)
	var profiled sync.WaitGroup
	if profileDir != "" {
		profiled.Go(func() {
			saveProfile(b, "http://"+firstAddr+"/debug/pprof/profile?seconds=45", filepath.Join(profileDir, "startup-cpu.prof"))
		})
	}
	// The configuration, its index and the schedulers, before the scans
	// have filled anything (ready comes within a few seconds, a few hundred
	// scans).
	heapReady := svc.metrics().sum("go_memstats_heap_alloc_bytes")
	svc.waitLogCount("selection changed", scaleRepos, 10*time.Minute)
	firstSelections := time.Since(started)
	// One request a first scan: the automations' runs that the first
	// selections queue do not list the tags again.
	startupRequests := mem.requests.Load() - req0
	var autos float64
	deadline := time.Now().Add(5 * time.Minute)
	for {
		m := svc.metrics()
		if autos = m.count("hoist_automation_last_success_timestamp_seconds", func(v float64) bool { return v > 0 }); autos >= scaleAutomations {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%v of %d automations ran within 5m of every first selection", autos, scaleAutomations)
		}
		time.Sleep(2 * time.Second)
	}
	firstRuns := time.Since(started)
	u := svc.usage()
	m := svc.metrics()
	startupCPU := u.cpu
	rssAfter, heapAfter := float64(u.rss), m.sum("go_memstats_heap_alloc_bytes")
	goroutines := m.sum("go_goroutines")
	if n := m.sum("hoist_scans_total", `result="error"`); n > 0 {
		b.Errorf("%v scans failed", n)
	}
	profiled.Wait()
	svc.stop()
	b.Logf("first start: ready %s, every first selection %s (%d scans at %d requests/s: %.0fs at the least; %d registry requests until then), every automation run %s; CPU %s; resident %.1f MiB (anonymous %.1f, mapped files %.1f), heap %.1f MiB, %v goroutines",
		ready.Round(time.Millisecond), firstSelections.Round(time.Millisecond), scaleRepos, scaleRPS, float64(scaleRepos)/scaleRPS, startupRequests,
		firstRuns.Round(time.Millisecond), startupCPU.Round(time.Millisecond), rssAfter/mib, float64(u.anon)/mib, float64(u.file)/mib, heapAfter/mib, goroutines)
	st, err := os.Stat(filepath.Join(dir, "state", "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("per object: heap at ready %.1f MiB (%.0f bytes a repository and its policy: configuration, index, schedulers); after every first selection %.0f bytes a repository (with its last scan); state file %.1f MiB (%.0f bytes a policy)",
		heapReady/mib, heapReady/scaleRepos, heapAfter/scaleRepos, float64(st.Size())/mib, float64(st.Size())/scaleRepos)
	b.ReportMetric(heapAfter/scaleRepos, "heap-B/repo")

	// Second start: a 5-minute round of scans.
	addr := freeAddr(b)
	round := append(slices.Clone(args), "--startup-spread", "5m")
	if profileDir != "" {
		round = append(round, "--pprof")
	}
	svc = startHoist(b, addr, env, round...)
	started = time.Now()
	// measure samples CPU, registry requests and resident memory over
	// the window from at after start (and profiles it, as name).
	measure := func(name string, at, window time.Duration) float64 {
		time.Sleep(time.Until(started.Add(at)))
		var profiled sync.WaitGroup
		if profileDir != "" {
			// HOIST_SCALE_PROFILE=DIR: a CPU profile of the window and a
			// heap profile after it, for go tool pprof.
			profiled.Go(func() {
				saveProfile(b, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(window.Seconds())), filepath.Join(profileDir, name+"-cpu.prof"))
			})
		}
		req0, u0, t0 := mem.requests.Load(), svc.usage(), time.Now()
		var rssSum, rssMax, anonMax float64
		samples := 0
		for t := time.Now(); time.Since(t) < window; {
			time.Sleep(min(5*time.Second, window-time.Since(t)))
			u := svc.usage()
			rssSum += float64(u.rss)
			rssMax = max(rssMax, float64(u.rss))
			anonMax = max(anonMax, float64(u.anon))
			samples++
		}
		req1, u1, t1 := mem.requests.Load(), svc.usage(), time.Now()
		profiled.Wait()
		if profileDir != "" {
			saveProfile(b, "http://"+addr+"/debug/pprof/heap", filepath.Join(profileDir, name+"-heap.prof"))
		}
		wall := t1.Sub(t0)
		cpu := 100 * float64(u1.cpu-u0.cpu) / float64(wall)
		scansPerSec := float64(req1-req0) / wall.Seconds()
		b.Logf("%s: over %s from %s after start, CPU %s (%.2f%% of a core), %.1f registry requests/s (%.1f expected), resident %.1f MiB (max %.1f, anonymous max %.1f)",
			name, wall.Round(time.Millisecond), t0.Sub(started).Round(time.Second), u1.cpu-u0.cpu, cpu, scansPerSec, float64(scaleRepos)/300, rssSum/float64(samples)/mib, rssMax/mib, anonMax/mib)
		return cpu
	}
	// The first round after the restart: every repository's first scan
	// of this process.
	cpu := measure("round", 30*time.Second, window)

	// Webhooks during the round.
	hook := "http://" + addr + hookPath(token, "registry", "scale")
	rng := rand.New(rand.NewPCG(10, 10000))
	var lat []time.Duration
	n := 0
	b.ResetTimer()
	for range scaleWebhooks {
		time.Sleep(250*time.Millisecond + time.Duration(rng.Int64N(int64(250*time.Millisecond))))
		i := rng.IntN(scaleRepos)
		bare := gitSrv.RepoDir(gitName(gitOf(autoOf(i))) + ".git")
		head := refHead(b, bare, "main")
		n++
		tag := fmt.Sprintf("2.0.%d", n)
		start := time.Now()
		mem.push("scale/"+repoName(i), tag)
		payload := fmt.Sprintf(`{"events":[{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"scale/%s","tag":%q},"request":{"host":%q}}]}`,
			repoName(i), tag, host)
		req, err := http.NewRequest(http.MethodPost, hook, strings.NewReader(payload))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v1+json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			b.Fatalf("webhook: %s", resp.Status)
		}
		_, at := waitRef(b, bare, "main", head, time.Minute)
		lat = append(lat, at.Sub(start))
		if got := testenv.GitCLI(b, bare, "show", "main:"+manifest(i)); !strings.Contains(got, image(i)+":"+tag+" ") {
			b.Fatalf("main does not have %s:%s:\n%s", image(i), tag, got)
		}
	}
	// The second round: the steady state of a service that runs for
	// months, where each scan finds the list it found 5 minutes before
	// (but the repositories the webhooks pushed to).
	steady := measure("steady", 5*time.Minute+30*time.Second, steadyWindow)
	// The third round: idle. Every repository's list and every
	// automation's commit is the one of the round before.
	idle := measure("idle", 5*time.Minute+30*time.Second+max(steadyWindow, 5*time.Minute), steadyWindow)
	if profileDir != "" {
		// The second start's log: the webhooks' runs say how long their
		// steps took ("commit pushed").
		if err := os.WriteFile(filepath.Join(profileDir, "round.log"), []byte(svc.logs()), 0o644); err != nil {
			b.Error(err)
		}
	}
	m = svc.metrics()
	if n := m.sum("hoist_scans_total", `result="error"`); n > 0 {
		b.Errorf("%v scans failed", n)
	}
	svc.stop()

	b.ReportMetric(firstSelections.Seconds(), "startup-s")
	b.ReportMetric(float64(startupRequests)/scaleRepos, "startup-req/repo")
	b.ReportMetric(rssAfter/mib, "rss-MiB")
	b.ReportMetric(heapAfter/mib, "heap-MiB")
	b.ReportMetric(cpu, "cpu-%")
	b.ReportMetric(steady, "steady-cpu-%")
	b.ReportMetric(idle, "idle-cpu-%")
	b.ReportMetric(ms(percentile(lat, 50)), "median-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
	b.ReportMetric(ms(percentile(lat, 100)), "max-ms")
	b.Logf("%d webhooks: median %s, p99 %s, max %s", len(lat), percentile(lat, 50), percentile(lat, 99), percentile(lat, 100))
}

// envDuration is the duration the environment variable name holds, or def.
func envDuration(b *testing.B, name string, def time.Duration) time.Duration {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		b.Fatalf("%s=%q: want a positive duration such as 45s", name, s)
	}
	return d
}

// saveProfile writes what url answers to file.
func saveProfile(b *testing.B, url, file string) {
	resp, err := http.Get(url)
	if err != nil {
		b.Error(err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", url, resp.Status)
	}
	if err == nil {
		err = os.WriteFile(file, data, 0o644)
	}
	if err != nil {
		b.Error(err)
	}
}
