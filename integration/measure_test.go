//go:build soak || bench

package integration

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// This file holds what the soak test (tag soak) and the service
// measurements (tag bench) share: a hoist service process that a benchmark
// can drive too, /metrics and /proc readers, and percentiles.

// hoistProcess is a running `hoist run` (service mode) for measurements.
type hoistProcess struct {
	tb      testing.TB
	cmd     *exec.Cmd
	addr    string
	logs    lockedBuffer
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
}

// lockedBuffer collects the process's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startHoist starts `hoist run --listen addr args...` with env and waits
// until /readyz answers 200. It is killed in tb.Cleanup if still running.
func startHoist(tb testing.TB, addr string, env []string, args ...string) *hoistProcess {
	tb.Helper()
	p := &hoistProcess{tb: tb, addr: addr, done: make(chan struct{})}
	p.cmd = exec.Command(hoistBin, append([]string{"run", "--listen", addr}, args...)...)
	p.cmd.Env = append([]string{"HOME=" + tb.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.logs, &p.logs
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.done:
		default:
			if tb.Failed() {
				// SIGQUIT: the Go runtime prints every goroutine's stack,
				// which shows where a stuck service waits.
				_ = p.cmd.Process.Signal(syscall.SIGQUIT)
				select {
				case <-p.done:
				case <-time.After(5 * time.Second):
				}
			}
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if tb.Failed() {
			tb.Logf("hoist run logs (last 100000 bytes):\n%s", tail(p.logs.String(), 100000))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("hoist run did not become ready:\n%s", p.logs.String())
	return nil
}

// stop sends SIGTERM and waits for a clean exit.
func (p *hoistProcess) stop() {
	p.tb.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.tb.Fatal(err)
	}
	select {
	case <-p.done:
		if p.waitErr != nil {
			p.tb.Errorf("hoist run exited with %v after SIGTERM", p.waitErr)
		}
	case <-time.After(30 * time.Second):
		p.tb.Fatalf("hoist run did not stop within 30s of SIGTERM")
	}
}

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

// localAddr returns a free address on 127.0.0.1.
func localAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// refHead reads branch of the bare repository at dir from its files, cheap
// enough to poll every few milliseconds (git rev-parse would start a
// process each time). git receive-pack writes loose refs; a packed ref is
// read from packed-refs.
func refHead(tb testing.TB, dir, branch string) string {
	b, err := os.ReadFile(filepath.Join(dir, "refs", "heads", branch))
	if err == nil {
		return strings.TrimSpace(string(b))
	}
	if !errors.Is(err, os.ErrNotExist) {
		tb.Fatal(err)
	}
	return testenv.GitHead(tb, dir, branch)
}

// waitRef waits until branch of the bare repository at dir is no longer
// old, polling every 2ms, and returns the new head and when it was seen.
func waitRef(tb testing.TB, dir, branch, old string, timeout time.Duration) (string, time.Time) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if h := refHead(tb, dir, branch); h != old && h != "" {
			return h, time.Now()
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s of %s did not move from %s within %s", branch, dir, old, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// deploymentYAML is a Deployment whose image is set by policy NS:NAME.
func deploymentYAML(name, image, policyKey string) string {
	return fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: %s # {\"$imagepolicy\": %q}\n", name, image, policyKey)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// putFile writes content to path, creating its directory.
func putFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}
