package integration

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
)

// This file holds a reader of hoist's /metrics (and kube-apiserver's):
// the controller tests, the soak test (tag soak) and the measurements (tag
// bench) read counters from it.

// metrics scrapes /metrics.
func (p *hoistProcess) metrics() promSamples {
	p.tb.Helper()
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		p.tb.Fatalf("scraping /metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		p.tb.Fatalf("scraping /metrics: %s", resp.Status)
	}
	s, err := parseProm(resp.Body)
	if err != nil {
		p.tb.Fatalf("scraping /metrics: %v", err)
	}
	return s
}

// promSamples are the samples of a Prometheus text exposition: series
// (name with labels, as printed) to value.
type promSamples map[string]float64

// parseProm reads the text format; comments and timestamps are ignored.
func parseProm(r io.Reader) (promSamples, error) {
	out := promSamples{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, '}')
		if i < 0 {
			i = strings.IndexByte(line, ' ')
		} else {
			i++
		}
		if i <= 0 || i >= len(line) {
			return nil, fmt.Errorf("parsing metrics line %q", line)
		}
		fields := strings.Fields(line[i:])
		if len(fields) == 0 {
			return nil, fmt.Errorf("parsing metrics line %q: no value", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("parsing metrics line %q: %w", line, err)
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// sum adds the samples of metric name whose labels contain every one of
// labels (each `key="value"`).
func (s promSamples) sum(name string, labels ...string) float64 {
	var total float64
	for series, v := range s {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// kubeMetrics scrapes kube-apiserver's /metrics.
func kubeMetrics(tb testing.TB, cfg *rest.Config) promSamples {
	tb.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := hc.Get(strings.TrimSuffix(cfg.Host, "/") + "/metrics")
	if err != nil {
		tb.Fatalf("scraping kube-apiserver's /metrics: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("scraping kube-apiserver's /metrics: %s", resp.Status)
	}
	s, err := parseProm(resp.Body)
	if err != nil {
		tb.Fatalf("scraping kube-apiserver's /metrics: %v", err)
	}
	return s
}

// apiCount is how many requests of verb on the subresource of a hoist.dev
// resource kube-apiserver served between before and after.
func apiCount(after, before promSamples, resource, subresource, verb string) float64 {
	labels := []string{`group="hoist.dev"`, `resource="` + resource + `"`, `subresource="` + subresource + `"`, `verb="` + verb + `"`}
	return after.sum("apiserver_request_total", labels...) - before.sum("apiserver_request_total", labels...)
}
