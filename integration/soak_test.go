//go:build soak

package integration

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// soakRepos is how many image repositories the soak test pushes to.
const soakRepos = 20

// soakGroup is one automation: the policies it selects (by label), the Git
// repository and the path it writes.
type soakGroup struct {
	automation, git, path string
	repos                 []int
}

// soakVersion is a pushed version, 1.MINOR.PATCH.
type soakVersion struct{ minor, patch int }

func (v soakVersion) String() string { return fmt.Sprintf("1.%d.%d", v.minor, v.patch) }

func (v soakVersion) less(w soakVersion) bool {
	return v.minor < w.minor || v.minor == w.minor && v.patch < w.patch
}

// TestSoak runs hoist as a service for HOIST_SOAK_DURATION (default 3m)
// while random tags are pushed to 20 repositories of a registry whose
// notifications call hoist's distribution receiver: single tags, bursts of
// tags, and tags older than the newest (which must not be selected). Three
// automations write to two Git repositories (two of them to the same one,
// so their runs are serialised). At the end, every repository's newest tag
// is on the Git server; goroutines and heap, read from hoist's /metrics at a
// quiet point after warm-up and at the end, stay flat (goroutines within
// +50% or +20, heap and resident memory within 2x); hoist stops cleanly.
//
//	HOIST_SOAK_DURATION=45s go test -tags soak -run Soak -v ./integration/
func TestSoak(t *testing.T) {
	duration := 3 * time.Minute
	if s := os.Getenv("HOIST_SOAK_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("HOIST_SOAK_DURATION=%q: want a positive duration such as 45s", s)
		}
		duration = d
	}
	warmUp := min(max(duration/4, 10*time.Second), time.Minute)

	addr := freeAddr(t)
	const token = "soak-hook-token"
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{
		NotifyURL:     "http://" + addr + hookPath(token, "registry", "soak"),
		NotifyHeaders: http.Header{"Authorization": {"Bearer " + token}},
	})
	repoName := func(i int) string { return fmt.Sprintf("soak/app%02d", i) }
	d := reg.PushImage(t, repoName(0), "1.0.0", testenv.ImageOptions{})
	for i := 1; i < soakRepos; i++ {
		reg.CopyRepository(t, repoName(0), repoName(i))
	}

	groups := []soakGroup{
		{automation: "one", git: "fleet-a", path: "one"},
		{automation: "two", git: "fleet-a", path: "two"},
		{automation: "three", git: "fleet-b", path: "three"},
	}
	for i := range soakRepos {
		g := &groups[i*len(groups)/soakRepos]
		g.repos = append(g.repos, i)
	}
	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{})
	files := map[string]map[string]string{}
	for _, g := range groups {
		if files[g.git] == nil {
			files[g.git] = map[string]string{}
		}
		for _, i := range g.repos {
			name := fmt.Sprintf("app%02d", i)
			files[g.git][g.path+"/"+name+".yaml"] = deploymentYAML(name, reg.Ref(repoName(i), "1.0.0"), "soak:"+name)
		}
	}
	for repo, fs := range files {
		bare := gitSrv.RepoDir(repo + ".git")
		testenv.GitInitBare(t, bare, "main")
		testenv.GitCommitFiles(t, bare, "main", "initial", fs)
	}

	var cfg strings.Builder
	doc := func(format string, args ...any) { fmt.Fprintf(&cfg, "---\n"+format, args...) }
	for repo := range files {
		doc("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: %s, namespace: soak}\nspec: {url: %s, ref: {branch: main}}\n",
			repo, gitSrv.RepoURL(repo+".git"))
	}
	var resources []string
	for _, g := range groups {
		for _, i := range g.repos {
			name := fmt.Sprintf("app%02d", i)
			resources = append(resources, fmt.Sprintf("{kind: ImageRepository, name: %s}", name))
			doc("apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageRepository\nmetadata: {name: %s, namespace: soak}\nspec: {image: %s, interval: 30s}\n",
				name, reg.Ref(repoName(i), ""))
			doc("apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImagePolicy\nmetadata: {name: %s, namespace: soak, labels: {group: %s}}\nspec:\n  imageRepositoryRef: {name: %s}\n  policy: {semver: {range: '>=1.0.0'}}\n",
				name, g.automation, name)
		}
		doc(`apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageUpdateAutomation
metadata: {name: %s, namespace: soak}
spec:
  interval: 1m
  sourceRef: {kind: GitRepository, name: %s}
  policySelector: {matchLabels: {group: %s}}
  git:
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
  update: {path: ./%s, strategy: Setters}
`, g.automation, g.git, g.automation, g.path)
	}
	doc("apiVersion: hoist.dev/v1alpha1\nkind: Receiver\nmetadata: {name: registry, namespace: soak}\nspec:\n  type: distribution\n  resources: [%s]\n  secretRef: {name: hook}\n",
		strings.Join(resources, ", "))
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config", "hoist.yaml"), cfg.String())
	writeFile(t, filepath.Join(dir, "secrets", "hook", "token"), token)
	svc := startHoist(t, addr,
		[]string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state"), "HOIST_SECRETS_DIR=" + filepath.Join(dir, "secrets")},
		"-c", filepath.Join(dir, "config"), "--commit-window", "1s", "--log-level", "info")

	// newest is the newest version pushed per repository; next is the
	// version after which the pusher goes on.
	newest := make([]soakVersion, soakRepos)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 6))
	pushes, tags := 0, 0
	push := func(until time.Time) {
		for time.Now().Before(until) {
			i := rng.IntN(soakRepos)
			v := newest[i]
			var batch []soakVersion
			switch r := rng.IntN(20); {
			case r < 2 && v.minor > 0: // an older version than the newest
				batch = []soakVersion{{v.minor - 1, 100 + rng.IntN(100)}}
			case r < 4: // a burst: several versions at once
				for range 2 + rng.IntN(4) {
					v.patch++
					batch = append(batch, v)
				}
			case r < 7: // a new minor version
				batch = []soakVersion{{v.minor + 1, 0}}
			default:
				batch = []soakVersion{{v.minor, v.patch + 1}}
			}
			names := make([]string, len(batch))
			for k, w := range batch {
				names[k] = w.String()
				if newest[i].less(w) {
					newest[i] = w
				}
			}
			reg.Tag(t, repoName(i), d, names...)
			pushes++
			tags += len(names)
			time.Sleep(time.Duration(rng.Int64N(int64(250 * time.Millisecond))))
		}
	}
	// converge waits until the Git servers have every newest version.
	converge := func(timeout time.Duration) time.Duration {
		start := time.Now()
		var missing []string
		for {
			missing = missing[:0]
			for repo := range files {
				var paths []string
				var want []int
				for _, g := range groups {
					if g.git != repo {
						continue
					}
					for _, i := range g.repos {
						paths = append(paths, fmt.Sprintf("main:%s/app%02d.yaml", g.path, i))
						want = append(want, i)
					}
				}
				got := testenv.GitCLI(t, gitSrv.RepoDir(repo+".git"), append([]string{"show"}, paths...)...)
				for _, i := range want {
					if !strings.Contains(got, reg.Ref(repoName(i), newest[i].String())+" #") {
						missing = append(missing, fmt.Sprintf("%s:%s", repoName(i), newest[i]))
					}
				}
			}
			if len(missing) == 0 {
				return time.Since(start)
			}
			if time.Since(start) > timeout {
				t.Fatalf("after %s, the Git servers do not have these newest versions: %v", timeout, missing)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// sample reads goroutines and memory at a quiet point: the median of
	// five scrapes, half a second apart.
	type footprint struct{ goroutines, heap, rss, nextGC float64 }
	sample := func() footprint {
		var g, h, r, n []float64
		for k := range 5 {
			if k > 0 {
				time.Sleep(500 * time.Millisecond)
			}
			m := svc.metrics()
			g = append(g, m.sum("go_goroutines"))
			h = append(h, m.sum("go_memstats_heap_alloc_bytes"))
			r = append(r, m.sum("process_resident_memory_bytes"))
			n = append(n, m.sum("go_memstats_next_gc_bytes"))
		}
		med := func(s []float64) float64 { slices.Sort(s); return s[len(s)/2] }
		return footprint{med(g), med(h), med(r), med(n)}
	}

	soakStart := time.Now()
	push(soakStart.Add(warmUp))
	converge(time.Minute)
	time.Sleep(time.Second)
	before := sample()
	pushesWarmUp := pushes

	push(soakStart.Add(duration))
	settle := converge(90 * time.Second)
	time.Sleep(time.Second)
	after := sample()
	m := svc.metrics()
	svc.stop()

	commits := 0
	for repo := range files {
		n := strings.TrimSpace(testenv.GitCLI(t, gitSrv.RepoDir(repo+".git"), "rev-list", "--count", "main"))
		var c int
		_, _ = fmt.Sscan(n, &c)
		commits += c - 1 // the initial commit
	}
	t.Logf("soak: %s (warm-up %s): %d pushes (%d after warm-up) of %d tags to %d repositories; %d commits on the Git servers (hoist_commits_total %v); "+
		"all newest versions in Git %s after the last push",
		time.Since(soakStart).Round(time.Second), warmUp, pushes, pushes-pushesWarmUp, tags, soakRepos, commits, m.sum("hoist_commits_total"),
		settle.Round(time.Millisecond))
	t.Logf("soak: webhooks %v (accepted %v), scans %v (errors %v), selections changed %v, pushes %v (errors %v, retries %v)",
		m.sum("hoist_webhook_requests_total"), m.sum("hoist_webhook_requests_total", `outcome="accepted"`),
		m.sum("hoist_scans_total"), m.sum("hoist_scans_total", `result="error"`), m.sum("hoist_selections_changed_total"),
		m.sum("hoist_pushes_total"), m.sum("hoist_pushes_total", `result="error"`), m.sum("hoist_push_retries_total"))
	t.Logf("soak: goroutines %v -> %v; heap %.1f -> %.1f MiB (next GC %.1f -> %.1f MiB); resident %.1f -> %.1f MiB",
		before.goroutines, after.goroutines, before.heap/mib, after.heap/mib, before.nextGC/mib, after.nextGC/mib, before.rss/mib, after.rss/mib)

	if after.goroutines > max(before.goroutines*1.5, before.goroutines+20) {
		t.Errorf("goroutines grew from %v to %v", before.goroutines, after.goroutines)
	}
	if after.heap > 2*before.heap {
		t.Errorf("heap grew from %.1f to %.1f MiB", before.heap/mib, after.heap/mib)
	}
	if after.rss > 2*before.rss {
		t.Errorf("resident memory grew from %.1f to %.1f MiB", before.rss/mib, after.rss/mib)
	}
	if n := m.sum("hoist_pushes_total", `result="error"`); n != 0 {
		t.Errorf("%v pushes to Git failed", n)
	}
	if n := m.sum("hoist_scans_total", `result="error"`); n != 0 {
		t.Errorf("%v scans failed", n)
	}
}
