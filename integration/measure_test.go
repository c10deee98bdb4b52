//go:build soak || bench

package integration

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file holds what the soak test (tag soak) and the service
// measurements (tag bench) share: the /proc reader of a hoistProcess, and
// percentiles.

// usage reads the process's CPU time and resident set from /proc.
func (p *hoistProcess) usage() procUsage {
	p.tb.Helper()
	u, err := readProcUsage(p.cmd.Process.Pid)
	if err != nil {
		p.tb.Fatal(err)
	}
	return u
}

// procUsage is a process's CPU time and memory, from /proc.
type procUsage struct {
	cpu time.Duration // user + system
	rss int64         // bytes
	// anon and file split rss (from /proc/PID/status): the process's own
	// memory, and the pages of mapped files (the bbolt caches' mmap),
	// which the kernel drops first under memory pressure.
	anon, file int64
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
	u := procUsage{
		cpu: time.Duration(n[0]+n[1]) * time.Second / clockTicks,
		rss: n[2] * int64(os.Getpagesize()),
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procUsage{}, fmt.Errorf("reading the memory of process %d: %w", pid, err)
	}
	for line := range strings.Lines(string(status)) {
		key, v, _ := strings.Cut(line, ":")
		var to *int64
		switch key {
		case "RssAnon":
			to = &u.anon
		case "RssFile":
			to = &u.file
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return procUsage{}, fmt.Errorf("parsing /proc/%d/status %s: %w", pid, key, err)
		}
		*to = kb << 10
	}
	return u, nil
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
