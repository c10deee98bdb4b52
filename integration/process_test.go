package integration

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// This file holds what the service tests, the soak test (tag soak) and the
// service measurements (tag bench) share: a running `hoist run` and a
// cheap way to watch a branch of a bare repository move.

// hoistProcess is a running `hoist run` (service mode).
type hoistProcess struct {
	tb      testing.TB
	cmd     *exec.Cmd
	addr    string
	out     lockedBuffer
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

// logs is what the process printed so far.
func (p *hoistProcess) logs() string { return p.out.String() }

// startHoist starts `hoist run --listen addr args...` with env in a clean
// environment (its own HOME) and waits until /readyz answers 200. It is
// killed in tb.Cleanup if still running, and its logs are printed when the
// test failed.
func startHoist(tb testing.TB, addr string, env []string, args ...string) *hoistProcess {
	tb.Helper()
	return startHoistCommand(tb, "run", addr, env, args...)
}

// startHoistCommand is startHoist of `hoist COMMAND --listen addr args...`.
func startHoistCommand(tb testing.TB, command, addr string, env []string, args ...string) *hoistProcess {
	tb.Helper()
	p := &hoistProcess{tb: tb, addr: addr, done: make(chan struct{})}
	p.cmd = exec.Command(hoistBin, append([]string{command, "--listen", addr}, args...)...)
	p.cmd.Env = append([]string{"HOME=" + tb.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
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
			tb.Logf("hoist run logs (last 100000 bytes):\n%s", tail(p.logs(), 100000))
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
	tb.Fatalf("hoist run did not become ready:\n%s", p.logs())
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

// waitLog waits until the logs contain s.
func (p *hoistProcess) waitLog(s string, timeout time.Duration) {
	p.tb.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.logs(), s) {
		if time.Now().After(deadline) {
			p.tb.Fatalf("hoist run did not log %q within %s", s, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLogCount waits until the logs contain s at least n times and
// returns how many times they do.
func (p *hoistProcess) waitLogCount(s string, n int, timeout time.Duration) int {
	p.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if c := strings.Count(p.logs(), s); c >= n {
			return c
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("hoist run did not log %q %d times within %s", s, n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// freeAddr returns a free address on 127.0.0.1.
func freeAddr(tb testing.TB) string {
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
