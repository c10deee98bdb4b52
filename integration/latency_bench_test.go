//go:build bench

package integration

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/internal/testenv"
)

// The service measurements of issue 6. They start real servers and take
// minutes, so they build only with the bench tag:
//
//	go test -tags bench -run '^$' -bench PushToCommit -benchtime 100x ./integration/
//	go test -tags bench -run '^$' -bench IdleCost ./integration/
//
// -benchtime 100x makes BenchmarkPushToCommit push 100 tags per case (one
// iteration is one push, waited for until its commit is on the Git server).

// startupSettle is how long after start the service's first scheduled runs
// (spread over min(interval, automation.DefaultStartupSpread) = 30s) are
// all behind us, so that none of them lands in a measurement.
const startupSettle = 31 * time.Second

// BenchmarkPushToCommit measures push-to-commit latency on 127.0.0.1: from
// the start of a tag push to a registry (CNCF Distribution) until hoist's
// commit for it is on the Git server (git http-backend). Through the
// webhook (Distribution notifications calling hoist's distribution
// receiver) with a commit window of 100ms and with "as soon as possible"
// (a negative window); and by polling, with a 2s interval and no webhook.
// It reports the median and p99 in milliseconds (ns/op is the mean).
//
// Polling latency scales with the interval: a push waits for the next scan,
// on average half an interval (the scheduler's ±10% jitter does not change
// the mean), then for the same scan-and-commit work as through the webhook.
// The polling case also reports that expectation at the default interval
// (config.DefaultInterval, 5m) as default-interval-median-ms.
func BenchmarkPushToCommit(b *testing.B) {
	cases := []struct {
		name     string
		window   string
		webhook  bool
		interval time.Duration
	}{
		{name: "webhook/window=100ms", window: "100ms", webhook: true, interval: time.Hour},
		{name: "webhook/window=asap", window: "0", webhook: true, interval: time.Hour},
		{name: "poll/interval=2s", window: "0", interval: 2 * time.Second},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			benchPushToCommit(b, c.window, c.webhook, c.interval)
		})
	}
}

func benchPushToCommit(b *testing.B, window string, webhook bool, interval time.Duration) {
	f := newFleet(b, fleetOptions{namespace: "bench", name: "app", repoInterval: interval.String(), notify: webhook, flux: true})
	started := time.Now()
	svc := f.start("--commit-window", window)
	reg, d, bare := f.reg, f.digest, f.bare

	// Warm up: the first push clones the repository; then let the
	// scheduled first runs pass.
	n := 1
	head := refHead(b, bare, "main")
	reg.Tag(b, "bench/app", d, fmt.Sprintf("1.0.%d", n))
	waitRef(b, bare, "main", head, time.Minute)
	time.Sleep(time.Until(started.Add(startupSettle)))
	head = refHead(b, bare, "main")

	var lat []time.Duration
	m0 := svc.metrics()
	for b.Loop() {
		b.StopTimer()
		if webhook {
			// Pushes far apart enough that hoist's registry rate limit
			// (--registry-rps, 10 per second per host, with a burst of
			// 10) is not what is measured: a push costs hoist about three
			// registry requests.
			time.Sleep(250*time.Millisecond + rand.N(250*time.Millisecond))
		} else {
			time.Sleep(rand.N(interval)) // not in step with the scans
		}
		n++
		tag := fmt.Sprintf("1.0.%d", n)
		b.StartTimer()
		start := time.Now()
		reg.Tag(b, "bench/app", d, tag)
		var at time.Time
		head, at = waitRef(b, bare, "main", head, time.Minute)
		lat = append(lat, at.Sub(start))
	}
	b.StopTimer()
	if got := testenv.GitCLI(b, bare, "show", "main:apps/app.yaml"); !strings.Contains(got, fmt.Sprintf("bench/app:1.0.%d ", n)) {
		b.Fatalf("main does not have the last tag 1.0.%d:\n%s", n, got)
	}
	m1 := svc.metrics()
	svc.stop()
	requests := m1.sum("hoist_registry_requests_total") - m0.sum("hoist_registry_requests_total")
	waits := m1.sum("hoist_rate_limit_waits_total") - m0.sum("hoist_rate_limit_waits_total")
	b.ReportMetric(ms(percentile(lat, 50)), "median-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
	b.ReportMetric(ms(percentile(lat, 100)), "max-ms")
	if !webhook {
		// Half an interval of waiting for the scan is the difference
		// between polling and the webhook; scale it to the default.
		b.ReportMetric(ms(config.DefaultInterval/2+percentile(lat, 50)-interval/2), "default-interval-median-ms")
	}
	b.ReportMetric(requests/float64(len(lat)), "registry-req/push")
	// The medians of the first and the last tenth show whether latency
	// grows with the commits behind it.
	tenth := max(len(lat)/10, 1)
	b.Logf("%d pushes, window %s, webhook %v, interval %s: median %s, p99 %s, max %s (median of the first tenth %s, of the last %s); %v registry requests, %v waits for the rate limit",
		len(lat), window, webhook, interval, percentile(lat, 50), percentile(lat, 99), percentile(lat, 100),
		percentile(lat[:tenth], 50), percentile(lat[len(lat)-tenth:], 50), requests, waits)
}
