package automation_test

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/registry"
)

// Metrics live on a registry of the caller's, served on /metrics; the
// registry client reports each request to them.
func ExampleMetrics() {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := automation.NewMetrics(reg)
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := registry.New(registry.WithRequestObserver(metrics.ObserveRequest))
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = client // scans now count hoist_registry_requests_total

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	metrics.Commit("apps/prod")
	metrics.Push("apps/prod", nil)
	metrics.LastSuccess("apps/prod", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

	families, err := reg.Gather()
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), "hoist_") {
			continue
		}
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				fmt.Println(f.GetName(), m.GetCounter().GetValue())
			case m.Gauge != nil:
				fmt.Println(f.GetName(), m.GetGauge().GetValue())
			}
		}
	}
	// Output:
	// hoist_automation_last_success_timestamp_seconds 1.7672256e+09
	// hoist_commits_total 1
	// hoist_pushes_total 1
}

// ImageHost is the registry host that requests for an image repository go
// to: the scan metrics' host label, and the service's group of scans.
func ExampleImageHost() {
	for _, image := range []string{"nginx", "ghcr.io/acme/web", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api", "127.0.0.1:5000/apps/db"} {
		fmt.Println(automation.ImageHost(image))
	}
	// Output:
	// index.docker.io
	// ghcr.io
	// 123456789012.dkr.ecr.eu-west-1.amazonaws.com
	// 127.0.0.1:5000
}
