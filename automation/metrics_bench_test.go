package automation_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/registry"
)

// BenchmarkMetricsObserveRequest is the cost added to every registry
// request.
func BenchmarkMetricsObserveRequest(b *testing.B) {
	m, err := automation.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	info := registry.RequestInfo{Host: "ghcr.io", Method: "GET", Status: 200, Duration: 120 * time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest(info)
	}
}

// BenchmarkMetricsScrape serves /metrics (the text format, uncompressed)
// of a service of 1,000 image repositories, one policy each, on one
// registry host, with 20 automations, and reports its size.
func BenchmarkMetricsScrape(b *testing.B) {
	const repos = 1000
	reg := prometheus.NewRegistry()
	m, err := automation.NewMetrics(reg)
	if err != nil {
		b.Fatal(err)
	}
	recordService(m, repos)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	var size int
	b.ReportAllocs()
	for b.Loop() {
		size = scrapeSize(b, h)
	}
	b.ReportMetric(float64(size), "bytes/scrape")
	b.ReportMetric(float64(size)/repos, "bytes/repository")
}

// recordService records what the service does for repos image repositories
// of one policy each, all on one registry host, two scans each (one
// changed the selection), and 20 automations that committed and pushed.
func recordService(m *automation.Metrics, repos int) {
	for i := range repos {
		repo := fmt.Sprintf("apps/app%04d", i)
		image := fmt.Sprintf("registry.example.com/team/app%04d", i)
		// Scan times spread over the buckets.
		m.ScanDone(repo, image, time.Duration(i%40)*100*time.Millisecond, nil)
		m.ScanDone(repo, image, time.Duration(i%7)*time.Second, nil)
		m.Stale(repo, false)
		m.SelectionChanged(fmt.Sprintf("apps:app%04d", i))
		for range 12 {
			m.ObserveRequest(registry.RequestInfo{Host: "registry.example.com", Method: "GET", Status: 200, Duration: time.Duration(i%50) * 10 * time.Millisecond})
		}
	}
	for i := range 20 {
		a := fmt.Sprintf("apps/fleet%02d", i)
		m.Commit(a)
		m.Push(a, nil)
		m.LastSuccess(a, time.Unix(1767225600, 0))
	}
	m.WebhookRequest("apps/registry", "accepted")
}

// scrapeSize is the size of one /metrics answer of h, without compression.
func scrapeSize(tb testing.TB, h http.Handler) int {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		tb.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	return rec.Body.Len()
}

// BenchmarkMetricsScan is what the service records per scan of an image
// repository (ScanDone and Stale), rescanning 10,000 repositories in turn
// on one registry host.
func BenchmarkMetricsScan(b *testing.B) {
	const repos = 10_000
	m, err := automation.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	keys, images := make([]string, repos), make([]string, repos)
	for i := range repos {
		keys[i] = fmt.Sprintf("apps/app%05d", i)
		images[i] = fmt.Sprintf("registry.example.com/team/app%05d", i)
		m.ScanDone(keys[i], images[i], time.Second, nil)
		m.Stale(keys[i], false)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := i % repos
		m.ScanDone(keys[r], images[r], 120*time.Millisecond, nil)
		m.Stale(keys[r], false)
		i++
	}
}
