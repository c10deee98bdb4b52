package automation_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/registry"
)

// samples gathers reg into "name{label=value,...}" -> value; histograms
// give name_count and name_sum.
func samples(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.Counter != nil:
				out[f.GetName()+key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[f.GetName()+key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[f.GetName()+"_count"+key] = float64(m.GetHistogram().GetSampleCount())
				out[f.GetName()+"_sum"+key] = m.GetHistogram().GetSampleSum()
			}
		}
	}
	return out
}

func TestMetrics(t *testing.T) {
	boom := errors.New("boom")
	tests := map[string]struct {
		record func(m *automation.Metrics)
		want   map[string]float64
	}{
		"scans": {
			record: func(m *automation.Metrics) {
				m.ScanDone("apps/podinfo", "ghcr.io/stefanprodan/podinfo", 250*time.Millisecond, nil)
				m.ScanDone("apps/podinfo", "ghcr.io/stefanprodan/podinfo", 750*time.Millisecond, nil)
				m.ScanDone("apps/flux", "ghcr.io/fluxcd/flux-cli", 500*time.Millisecond, nil)
				m.ScanDone("apps/nginx", "nginx", time.Second, boom)
			},
			want: map[string]float64{
				"hoist_scans_total{repository=apps/podinfo,result=success}": 2,
				"hoist_scans_total{repository=apps/flux,result=success}":    1,
				"hoist_scans_total{repository=apps/nginx,result=error}":     1,
				"hoist_scan_seconds_total{repository=apps/podinfo}":         1,
				"hoist_scan_seconds_total{repository=apps/flux}":            0.5,
				"hoist_scan_seconds_total{repository=apps/nginx}":           1,
				"hoist_scan_duration_seconds_count{host=ghcr.io}":           3,
				"hoist_scan_duration_seconds_sum{host=ghcr.io}":             1.5,
				"hoist_scan_duration_seconds_count{host=index.docker.io}":   1,
				"hoist_scan_duration_seconds_sum{host=index.docker.io}":     1,
			},
		},
		"registry requests": {
			record: func(m *automation.Metrics) {
				m.ObserveRequest(registry.RequestInfo{Host: "ghcr.io", Method: "GET", Status: 200, Duration: 100 * time.Millisecond})
				m.ObserveRequest(registry.RequestInfo{Host: "ghcr.io", Method: "GET", Status: 200, Duration: 300 * time.Millisecond})
				m.ObserveRequest(registry.RequestInfo{Host: "ghcr.io", Method: "HEAD", Status: 429, Duration: 0})
				m.ObserveRequest(registry.RequestInfo{Host: "127.0.0.1:5000", Method: "GET", Status: 0, Duration: time.Second})
			},
			want: map[string]float64{
				"hoist_registry_requests_total{host=ghcr.io,method=GET,status=200}":          2,
				"hoist_registry_requests_total{host=ghcr.io,method=HEAD,status=429}":         1,
				"hoist_registry_requests_total{host=127.0.0.1:5000,method=GET,status=error}": 1,
				"hoist_registry_request_duration_seconds_count{host=ghcr.io}":                3,
				"hoist_registry_request_duration_seconds_sum{host=ghcr.io}":                  0.4,
				"hoist_registry_request_duration_seconds_count{host=127.0.0.1:5000}":         1,
				"hoist_registry_request_duration_seconds_sum{host=127.0.0.1:5000}":           1,
			},
		},
		"rate limit waits": {
			record: func(m *automation.Metrics) {
				m.RateLimitWait("registry-1.docker.io", 1500*time.Millisecond)
				m.RateLimitWait("registry-1.docker.io", 500*time.Millisecond)
			},
			want: map[string]float64{
				"hoist_rate_limit_waits_total{host=registry-1.docker.io}":        2,
				"hoist_rate_limit_wait_seconds_total{host=registry-1.docker.io}": 2,
			},
		},
		"the Git side": {
			record: func(m *automation.Metrics) {
				m.SelectionChanged("apps:podinfo")
				m.SelectionChanged("apps:podinfo")
				m.Commit("apps/prod")
				m.Push("apps/prod", nil)
				m.Push("apps/prod", boom)
				m.PushRetry("apps/prod")
				m.PullRequest("apps/prod", nil)
				m.LastSuccess("apps/prod", time.Unix(1767225600, 500_000_000))
				m.LastSuccess("apps/gone", time.Unix(1, 0))
				m.ForgetAutomation("apps/gone")
			},
			want: map[string]float64{
				"hoist_selections_changed_total{policy=apps:podinfo}":                   2,
				"hoist_commits_total{automation=apps/prod}":                             1,
				"hoist_pushes_total{automation=apps/prod,result=success}":               1,
				"hoist_pushes_total{automation=apps/prod,result=error}":                 1,
				"hoist_push_retries_total{automation=apps/prod}":                        1,
				"hoist_pull_requests_total{automation=apps/prod,result=success}":        1,
				"hoist_automation_last_success_timestamp_seconds{automation=apps/prod}": 1767225600.5,
			},
		},
		"stale tag lists": {
			record: func(m *automation.Metrics) {
				m.Stale("apps/podinfo", true)
				m.Stale("apps/nginx", true)
				m.Stale("apps/nginx", false) // the registry is back
				m.Stale("apps/gone", true)
				m.ForgetRepository("apps/gone")
			},
			want: map[string]float64{
				"hoist_registry_stale{repository=apps/podinfo}": 1,
				"hoist_registry_stale{repository=apps/nginx}":   0,
			},
		},
		"rescans reuse the series a repository's first scan looked up": {
			record: func(m *automation.Metrics) {
				m.Stale("apps/podinfo", false) // before any scan: the gauge only
				m.ScanDone("apps/podinfo", "ghcr.io/stefanprodan/podinfo", time.Second, nil)
				m.ScanDone("apps/podinfo", "ghcr.io/stefanprodan/podinfo", time.Second, errors.New("boom"))
				m.ScanDone("apps/podinfo", "ghcr.io/stefanprodan/podinfo", time.Second, nil)
				m.Stale("apps/podinfo", true)
				// The image moved to another registry: its scans count
				// under the new host.
				m.ScanDone("apps/podinfo", "quay.io/stefanprodan/podinfo", 2*time.Second, nil)
				m.Stale("apps/podinfo", false)
				// Removed, then back: the gauge is made again, the
				// counters went on.
				m.ForgetRepository("apps/podinfo")
				m.Stale("apps/podinfo", true)
				m.ScanDone("apps/podinfo", "quay.io/stefanprodan/podinfo", time.Second, nil)
			},
			want: map[string]float64{
				"hoist_scans_total{repository=apps/podinfo,result=success}": 4,
				"hoist_scans_total{repository=apps/podinfo,result=error}":   1,
				"hoist_scan_seconds_total{repository=apps/podinfo}":         6,
				"hoist_scan_duration_seconds_count{host=ghcr.io}":           3,
				"hoist_scan_duration_seconds_sum{host=ghcr.io}":             3,
				"hoist_scan_duration_seconds_count{host=quay.io}":           2,
				"hoist_scan_duration_seconds_sum{host=quay.io}":             3,
				"hoist_registry_stale{repository=apps/podinfo}":             1,
			},
		},
		"webhooks": {
			record: func(m *automation.Metrics) {
				m.WebhookRequest("apps/dockerhub", "accepted")
				m.WebhookRequest("apps/dockerhub", "accepted")
				m.WebhookRequest("apps/github", "unauthorized")
				m.WebhookRequest("", "not_found")
			},
			want: map[string]float64{
				"hoist_webhook_requests_total{outcome=accepted,receiver=apps/dockerhub}":  2,
				"hoist_webhook_requests_total{outcome=unauthorized,receiver=apps/github}": 1,
				"hoist_webhook_requests_total{outcome=not_found,receiver=}":               1,
			},
		},
		"credentials never reach a label": {
			record: func(m *automation.Metrics) {
				m.ObserveRequest(registry.RequestInfo{Host: "robot:s3cret@registry.example.com", Method: "GET", Status: 401})
				m.RateLimitWait("robot:s3cret@registry.example.com", time.Second)
				m.ScanDone("https://robot:s3cret@registry.example.com/team/app", "https://robot:s3cret@registry.example.com/team/app", time.Second, nil)
				m.ScanDone("registry.example.com/team/app@sha256:abc", "robot:s3cret@registry.example.com/team/app", time.Second, nil)
			},
			want: map[string]float64{
				"hoist_registry_requests_total{host=registry.example.com,method=GET,status=401}":        1,
				"hoist_registry_request_duration_seconds_count{host=registry.example.com}":              1,
				"hoist_registry_request_duration_seconds_sum{host=registry.example.com}":                0,
				"hoist_rate_limit_waits_total{host=registry.example.com}":                               1,
				"hoist_rate_limit_wait_seconds_total{host=registry.example.com}":                        1,
				"hoist_scans_total{repository=registry.example.com/team/app,result=success}":            1,
				"hoist_scan_seconds_total{repository=registry.example.com/team/app}":                    1,
				"hoist_scans_total{repository=registry.example.com/team/app@sha256:abc,result=success}": 1,
				"hoist_scan_seconds_total{repository=registry.example.com/team/app@sha256:abc}":         1,
				"hoist_scan_duration_seconds_count{host=registry.example.com}":                          2,
				"hoist_scan_duration_seconds_sum{host=registry.example.com}":                            2,
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			m, err := automation.NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			tc.record(m)
			if diff := cmp.Diff(tc.want, samples(t, reg)); diff != "" {
				t.Errorf("samples (-want +got):\n%s", diff)
			}
			for k := range samples(t, reg) {
				if strings.Contains(k, "s3cret") || strings.Contains(k, "robot") {
					t.Errorf("a credential reached a label: %s", k)
				}
			}
		})
	}
}

func TestMetricsExposition(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := automation.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Commit("apps/prod")
	m.WebhookRequest("apps/quay", "accepted")
	want := `
# HELP hoist_commits_total Commits made, by automation (NAMESPACE/NAME).
# TYPE hoist_commits_total counter
hoist_commits_total{automation="apps/prod"} 1
# HELP hoist_webhook_requests_total Webhook requests, by receiver (NAMESPACE/NAME) and outcome (such as accepted, unauthorized, bad_request, not_found, ignored).
# TYPE hoist_webhook_requests_total counter
hoist_webhook_requests_total{outcome="accepted",receiver="apps/quay"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hoist_commits_total", "hoist_webhook_requests_total"); err != nil {
		t.Error(err)
	}

	// Every metric of every kind, once observed, is named hoist_* and
	// passes Prometheus's naming checks.
	m.ScanDone("apps/r", "ghcr.io/r", time.Second, nil)
	m.ObserveRequest(registry.RequestInfo{Host: "h", Method: "GET", Status: 200})
	m.RateLimitWait("h", time.Second)
	m.SelectionChanged("apps:p")
	m.Push("apps/prod", nil)
	m.PushRetry("apps/prod")
	m.PullRequest("apps/prod", nil)
	m.LastSuccess("apps/prod", time.Now())
	m.Stale("apps/app", true)
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	want2 := []string{
		"hoist_automation_last_success_timestamp_seconds",
		"hoist_commits_total",
		"hoist_pull_requests_total",
		"hoist_push_retries_total",
		"hoist_pushes_total",
		"hoist_rate_limit_wait_seconds_total",
		"hoist_rate_limit_waits_total",
		"hoist_registry_request_duration_seconds",
		"hoist_registry_requests_total",
		"hoist_registry_stale",
		"hoist_scan_duration_seconds",
		"hoist_scan_seconds_total",
		"hoist_scans_total",
		"hoist_selections_changed_total",
		"hoist_webhook_requests_total",
	}
	slices.Sort(names)
	if diff := cmp.Diff(want2, names); diff != "" {
		t.Errorf("metric names (-want +got):\n%s", diff)
	}
}

func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := automation.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	_, err := automation.NewMetrics(reg)
	var already prometheus.AlreadyRegisteredError
	if !errors.As(err, &already) {
		t.Errorf("second NewMetrics on one registry: %v, want AlreadyRegisteredError", err)
	}
}

func TestNilMetricsDoNothing(t *testing.T) {
	var m *automation.Metrics
	calls := []func(){
		func() { m.ScanDone("apps/r", "ghcr.io/r", time.Second, nil) },
		func() { m.ObserveRequest(registry.RequestInfo{}) },
		func() { m.RateLimitWait("h", time.Second) },
		func() { m.SelectionChanged("p") },
		func() { m.Commit("a") },
		func() { m.Push("a", nil) },
		func() { m.PushRetry("a") },
		func() { m.PullRequest("a", nil) },
		func() { m.WebhookRequest("r", "accepted") },
		func() { m.LastSuccess("a", time.Now()) },
		func() { m.ForgetAutomation("a") },
		func() { m.Stale("r", true) },
		func() { m.ForgetRepository("r") },
	}
	for i, call := range calls {
		t.Run(fmt.Sprint(i), func(t *testing.T) { call() })
	}
}

// TestMetricsScrapeSize checks that a repository adds a few lines to
// /metrics, not a histogram's dozen: at 1,000 repositories a scrape was
// 1.17 MB, mostly the buckets of per-repository scan histograms.
func TestMetricsScrapeSize(t *testing.T) {
	size := func(repos int) int {
		reg := prometheus.NewRegistry()
		m, err := automation.NewMetrics(reg)
		if err != nil {
			t.Fatal(err)
		}
		recordService(m, repos)
		return scrapeSize(t, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	}
	small, large := size(1000), size(2000)
	perRepo := float64(large-small) / 1000
	t.Logf("/metrics: %d bytes at 1,000 repositories, %d at 2,000: %.0f bytes a repository", small, large, perRepo)
	// A repository's series: scans_total, scan_seconds_total,
	// registry_stale and its policy's selections_changed_total, about 60
	// bytes each.
	if perRepo > 400 {
		t.Errorf("/metrics grows by %.0f bytes a repository, want at most 400", perRepo)
	}
}
