//go:build soak || bench

package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file holds what the soak test (tag soak) and the service
// measurements (tag bench) share: /metrics and /proc readers of a
// hoistProcess, and percentiles.

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

// usage reads the process's CPU time and resident set from /proc.
func (p *hoistProcess) usage() procUsage {
	p.tb.Helper()
	u, err := readProcUsage(p.cmd.Process.Pid)
	if err != nil {
		p.tb.Fatal(err)
	}
	return u
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

// procUsage is a process's CPU time and memory, from /proc.
type procUsage struct {
	cpu time.Duration // user + system
	rss int64         // bytes
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports (sysconf(_SC_CLK_TCK)).
const clockTicks = 100

func readProcUsage(pid int) (procUsage, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procUsage{}, fmt.Errorf("reading the usage of process %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procUsage{}, fmt.Errorf("parsing /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): utime is field 14, stime 15, rss 24 (pages).
	if len(f) < 22 {
		return procUsage{}, fmt.Errorf("parsing /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var n [3]int64
	for k, field := range []int{14, 15, 24} {
		if n[k], err = strconv.ParseInt(f[field-3], 10, 64); err != nil {
			return procUsage{}, fmt.Errorf("parsing /proc/%d/stat field %d: %w", pid, field, err)
		}
	}
	return procUsage{
		cpu: time.Duration(n[0]+n[1]) * time.Second / clockTicks,
		rss: n[2] * int64(os.Getpagesize()),
	}, nil
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

const mib = 1 << 20

// count is how many samples of metric name have a value for which ok holds.
func (s promSamples) count(name string, ok func(float64) bool) float64 {
	var n float64
	for series, v := range s {
		if m, _, _ := strings.Cut(series, "{"); m == name && ok(v) {
			n++
		}
	}
	return n
}
