package automation_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
