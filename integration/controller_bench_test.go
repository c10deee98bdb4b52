//go:build bench

package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/controller"
	"github.com/hoist-dev/hoist/internal/testenv"
)

// The shape of BenchmarkController1k: 1,000 ImagePolicies over 300
// ImageRepositories (3 or 4 policies each, of three semver ranges), on one
// registry host; every ctlServiceAccountEvery-th repository takes its
// credentials from a ServiceAccount's image pull secret
// (serviceAccountName).
const (
	ctlRepos               = 300
	ctlPolicies            = 1000
	ctlServiceAccountEvery = 10
	// ctlInterval is the repositories' interval: short, so that the rest
	// window sees every repository scanned twice a minute.
	ctlInterval = 30 * time.Second
)

// ctlRanges are the policies' semver ranges, in turn, with what each
// selects from memRegistry's tags (1.0.0 to 1.39.24).
var ctlRanges = []struct{ semver, tag string }{
	{">=1.0.0", "1.39.24"},
	{"~1.20.0", "1.20.24"},
	{"<1.30.0", "1.29.24"},
}

// BenchmarkController1k measures `hoist controller` against a real
// kube-apiserver and etcd with 1,000 ImagePolicies over 300
// ImageRepositories (interval 30s, no automation), 30 of them with a
// serviceAccountName whose ServiceAccount has an image pull secret. The registry is
// memRegistry, tag lists served from memory, 1,000 tags a repository: the
// benchmark measures hoist, not a registry (the correctness tests use a
// real one).
//
// Start: the time from starting the process to every status written
// (every repository's lastScanResult and every policy's latestRef, all
// Ready=True), the API requests that took (client-go's
// rest_client_requests_total of the process, by method) and the status
// writes by kind (kube-apiserver's apiserver_request_total); then resident
// memory (/proc) and heap (/metrics).
//
// At rest: over a window (HOIST_CONTROLLER_WINDOW, default 60s) in which
// every repository is scanned about twice and nothing changes, the API
// requests a minute by method, the status writes by kind, and the scans
// (hoist_scans_total). The target: no status write at all, as no scan
// changes anything (a repository's lastScanResult.scanTime waits for
// --status-refresh, an hour), no reads beyond the watches.
func BenchmarkController1k(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("no /proc: memory is read from /proc/PID/stat")
	}
	window := 60 * time.Second
	if s := os.Getenv("HOIST_CONTROLLER_WINDOW"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			b.Fatalf("HOIST_CONTROLLER_WINDOW=%q: want a positive duration such as 60s", s)
		}
		window = d
	}
	kube := testenv.StartKube(b, controller.NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c := kube.Client
	mem := newMemRegistry()
	regSrv := httptest.NewServer(mem)
	b.Cleanup(regSrv.Close)
	host := strings.TrimPrefix(regSrv.URL, "http://")

	setup := time.Now()
	const ns = "bench"
	create(ctx, b, c, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	repoName := func(i int) string { return fmt.Sprintf("app%05d", i) }
	dockerConfig, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte("puller:puller-password")),
	}}})
	create(ctx, b, c, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: dockerConfig},
	})
	create(ctx, b, c, &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: "puller", Namespace: ns},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
	})
	var objs []client.Object
	for i := range ctlRepos {
		r := &v1alpha1.ImageRepository{
			ObjectMeta: metav1.ObjectMeta{Name: repoName(i), Namespace: ns},
			Spec:       v1alpha1.ImageRepositorySpec{Image: host + "/scale/" + repoName(i), Interval: metav1.Duration{Duration: ctlInterval}},
		}
		if i%ctlServiceAccountEvery == 0 {
			r.Spec.ServiceAccountName = "puller"
		}
		objs = append(objs, r)
	}
	for i := range ctlPolicies {
		objs = append(objs, &v1alpha1.ImagePolicy{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%04d", i), Namespace: ns},
			Spec: v1alpha1.ImagePolicySpec{
				ImageRepositoryRef: v1alpha1.NamespacedObjectReference{Name: repoName(i % ctlRepos)},
				Policy:             v1alpha1.ImagePolicyChoice{SemVer: &v1alpha1.SemVerPolicy{Range: ctlRanges[i/ctlRepos%len(ctlRanges)].semver}},
			},
		})
	}
	createAll(ctx, b, c, objs)
	b.Logf("setup: %d objects created in %s", len(objs), time.Since(setup).Round(time.Millisecond))

	apiBefore := kubeMetrics(b, kube.Config)
	started := time.Now()
	p := startController(b, kube, "--registry-rps", "400", "--log-level", "info")
	ready := time.Since(started)
	waitFor(ctx, b, "every status written", func() bool { return allWritten(ctx, c, ns) })
	written := time.Since(started)
	m := p.metrics()
	u := p.usage()
	apiAfter := kubeMetrics(b, kube.Config)
	b.Logf("start: ready (cache synced) %s, every status written %s; %s; status writes %s; %s; resident %.1f MiB, heap %.1f MiB, %v goroutines",
		ready.Round(time.Millisecond), written.Round(time.Millisecond), clientRequests(m, nil), statusWrites(apiAfter, apiBefore), reconciles(m, nil),
		float64(u.rss)/mib, m.sum("go_memstats_heap_alloc_bytes")/mib, m.sum("go_goroutines"))
	if n := m.sum("hoist_scans_total", `result="error"`); n > 0 {
		b.Errorf("%v scans failed", n)
	}

	// At rest.
	b.ResetTimer()
	m0, api0, t0 := p.metrics(), kubeMetrics(b, kube.Config), time.Now()
	var rssSum, rssMax float64
	samples := 0
	for time.Since(t0) < window {
		time.Sleep(min(5*time.Second, window-time.Since(t0)))
		rss := float64(p.usage().rss)
		rssSum += rss
		rssMax = max(rssMax, rss)
		samples++
	}
	m1, api1 := p.metrics(), kubeMetrics(b, kube.Config)
	wall := time.Since(t0)
	perMin := func(n float64) float64 { return n / wall.Minutes() }
	scans := m1.sum("hoist_scans_total") - m0.sum("hoist_scans_total")
	reqs := m1.sum("rest_client_requests_total") - m0.sum("rest_client_requests_total")
	repoWrites := apiCount(api1, api0, "imagerepositories", "status", "PATCH")
	policyWrites := apiCount(api1, api0, "imagepolicies", "status", "PATCH")
	b.Logf("at rest over %s: %.0f scans (%.1f a repository); API requests %.1f a minute (%s); status writes %s: %.2f a repository scan; %s; resident %.1f MiB (max %.1f), heap %.1f MiB",
		wall.Round(time.Millisecond), scans, scans/ctlRepos, perMin(reqs), clientRequests(m1, m0), statusWrites(api1, api0), repoWrites/max(scans, 1), reconciles(m1, m0),
		rssSum/float64(samples)/mib, rssMax/mib, m1.sum("go_memstats_heap_alloc_bytes")/mib)
	if gets := m1.sum("rest_client_requests_total", `method="GET"`) - m0.sum("rest_client_requests_total", `method="GET"`); gets > 0 {
		b.Errorf("%v GET requests at rest: a scan reads what the watches have (a serviceAccountName's ServiceAccount and pull secret)", gets)
	}
	if policyWrites > 0 {
		b.Errorf("%v ImagePolicy status writes at rest, where no selection changed", policyWrites)
	}
	if repoWrites > 0 {
		b.Errorf("%v ImageRepository status writes at rest, where no scan found anything new", repoWrites)
	}
	p.stop()

	b.ReportMetric(written.Seconds(), "start-to-status-s")
	b.ReportMetric(float64(u.rss)/mib, "rss-MiB")
	b.ReportMetric(m.sum("go_memstats_heap_alloc_bytes")/mib, "heap-MiB")
	b.ReportMetric(perMin(reqs), "api-req/min")
	b.ReportMetric(repoWrites/max(scans, 1), "writes/scan")
}

// createAll creates objs, a few at a time.
func createAll(ctx context.Context, tb testing.TB, c client.Client, objs []client.Object) {
	tb.Helper()
	work := make(chan client.Object)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for o := range work {
				if err := c.Create(ctx, o); err != nil {
					errs <- fmt.Errorf("creating %T %s: %w", o, o.GetName(), err)
					return
				}
			}
		})
	}
	for _, o := range objs {
		select {
		case work <- o:
		case err := <-errs:
			tb.Fatal(err)
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		tb.Fatal(err)
	default:
	}
}

// allWritten reports whether every object of namespace ns has the status
// of a successful scan: each repository its lastScanResult, each policy
// the latestRef its range selects, all Ready=True.
func allWritten(ctx context.Context, c client.Client, ns string) bool {
	var repos v1alpha1.ImageRepositoryList
	if err := c.List(ctx, &repos, client.InNamespace(ns)); err != nil || len(repos.Items) != ctlRepos {
		return false
	}
	for _, r := range repos.Items {
		if r.Status.LastScanResult == nil || ready(r.Status.Conditions) != metav1.ConditionTrue {
			return false
		}
	}
	var policies v1alpha1.ImagePolicyList
	if err := c.List(ctx, &policies, client.InNamespace(ns)); err != nil || len(policies.Items) != ctlPolicies {
		return false
	}
	for _, p := range policies.Items {
		var i int
		if _, err := fmt.Sscanf(p.Name, "p%d", &i); err != nil {
			return false
		}
		want := ctlRanges[i/ctlRepos%len(ctlRanges)].tag
		if p.Status.LatestRef == nil || p.Status.LatestRef.Tag != want || ready(p.Status.Conditions) != metav1.ConditionTrue {
			return false
		}
	}
	return true
}

// statusWrites says how many status writes of each hoist.dev kind
// kube-apiserver served between before and after.
func statusWrites(after, before promSamples) string {
	var parts []string
	for _, r := range []string{"imagerepositories", "imagepolicies", "imageupdateautomations"} {
		n := apiCount(after, before, r, "status", "PATCH") + apiCount(after, before, r, "status", "UPDATE")
		parts = append(parts, fmt.Sprintf("%s %.0f", r, n))
	}
	return strings.Join(parts, ", ")
}

// clientRequests says how many API requests the process made since before
// (nil: since it started), by method, from client-go's
// rest_client_requests_total.
func clientRequests(after, before promSamples) string {
	var parts []string
	var total float64
	for _, method := range []string{"GET", "LIST", "WATCH", "POST", "PUT", "PATCH", "DELETE"} {
		n := after.sum("rest_client_requests_total", `method="`+method+`"`)
		if before != nil {
			n -= before.sum("rest_client_requests_total", `method="`+method+`"`)
		}
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %.0f", method, n))
		}
		total += n
	}
	return fmt.Sprintf("%.0f requests: %s", total, strings.Join(parts, ", "))
}

// BenchmarkControllerFailover measures leader failover: two `hoist
// controller --leader-elect` against one kube-apiserver, the leader killed
// (SIGKILL: the Lease is not released, as in a crash) and a tag pushed at
// once; the time from the kill to the other's taking the Lease, and to its
// commit of the tag on the Git server. Then a new standby is started and
// the new leader killed in its turn: HOIST_FAILOVER_RUNS kills (default
// 3) a case, the median reported. Two cases: controller-runtime's default
// timing (lease 15s, renew 10s, retry 2s) and a short one (5s, 3s, 1s).
func BenchmarkControllerFailover(b *testing.B) {
	runs := 3
	if s := os.Getenv("HOIST_FAILOVER_RUNS"); s != "" {
		if _, err := fmt.Sscanf(s, "%d", &runs); err != nil || runs <= 0 {
			b.Fatalf("HOIST_FAILOVER_RUNS=%q: want a positive number", s)
		}
	}
	for _, tc := range []struct {
		name   string
		timing []string
	}{
		{"lease=15s", nil},
		{"lease=5s", []string{"--leader-elect-lease-duration", "5s", "--leader-elect-renew-deadline", "3s", "--leader-elect-retry-period", "1s"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			kube := testenv.StartKube(b, controller.NewScheme(), filepath.Join("..", "config", "crd"))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			f := newFleet(b, fleetOptions{first: "1.0.0", semver: ">=1.0.0", repoInterval: "1s"})
			applyFleet(ctx, b, kube.Client, f, nil)
			args := append([]string{"--leader-elect", "--leader-election-namespace", "default", "--log-level", "info"}, tc.timing...)
			const acquired = "Successfully acquired lease"
			leader := startController(b, kube, args...)
			leader.waitLog(acquired, time.Minute)
			waitPolicy(ctx, b, kube.Client, f.namespace, f.name, func(p *v1alpha1.ImagePolicy) bool {
				return p.Status.LatestRef != nil && p.Status.LatestRef.Tag == "1.0.0"
			})
			var takeovers, commitsAt []time.Duration
			b.ResetTimer()
			for i := range runs {
				standby := startController(b, kube, args...)
				killed := time.Now()
				if err := leader.cmd.Process.Kill(); err != nil {
					b.Fatal(err)
				}
				tag := fmt.Sprintf("1.%d.0", i+1)
				old := f.push(tag)
				standby.waitLog(acquired, time.Minute)
				takeover := time.Since(killed)
				head, at := waitRef(b, f.bare, "main", old, time.Minute)
				if n := commits(b, f.bare, old, head); n != 1 {
					b.Errorf("the new leader made %d commits of %s", n, tag)
				}
				takeovers = append(takeovers, takeover)
				commitsAt = append(commitsAt, at.Sub(killed))
				b.Logf("kill %d: the standby took the Lease %s after, committed %s %s after", i+1, takeover.Round(time.Millisecond), tag, at.Sub(killed).Round(time.Millisecond))
				leader = standby
			}
			b.StopTimer()
			leader.stop()
			b.ReportMetric(percentile(takeovers, 50).Seconds(), "takeover-s")
			b.ReportMetric(percentile(commitsAt, 50).Seconds(), "kill-to-commit-s")
			b.Logf("median of %d: takeover %s, kill to commit %s (max %s)", runs, percentile(takeovers, 50).Round(time.Millisecond),
				percentile(commitsAt, 50).Round(time.Millisecond), percentile(commitsAt, 100).Round(time.Millisecond))
		})
	}
}

// reconciles says how many reconciles the process made since before (nil:
// since it started), how many failed, and their mean time, from
// controller-runtime's metrics.
func reconciles(after, before promSamples) string {
	d := func(name string, labels ...string) float64 {
		n := after.sum(name, labels...)
		if before != nil {
			n -= before.sum(name, labels...)
		}
		return n
	}
	n := d("controller_runtime_reconcile_total")
	mean := time.Duration(d("controller_runtime_reconcile_time_seconds_sum") / max(d("controller_runtime_reconcile_time_seconds_count"), 1) * float64(time.Second))
	return fmt.Sprintf("%.0f reconciles (%.0f failed), %s each", n, d("controller_runtime_reconcile_total", `result="error"`), mean.Round(10*time.Microsecond))
}
