package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// service is a running `hoist run` (service mode).
type service struct {
	t      *testing.T
	cmd    *exec.Cmd
	addr   string
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan error
}

func (s *service) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.Write(p)
}

func (s *service) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

func startService(t *testing.T, addr string, env []string, args ...string) *service {
	t.Helper()
	s := &service{t: t, addr: addr, done: make(chan error, 1)}
	s.cmd = exec.Command(hoistBin, append([]string{"run", "--listen", addr, "--log-level", "debug"}, args...)...)
	s.cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	s.cmd.Stderr = s
	s.cmd.Stdout = s
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			<-s.done //nolint:errcheck // killed: the exit error is expected
		}
		if t.Failed() {
			t.Logf("hoist run logs:\n%s", s.logs())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("hoist run did not become ready:\n%s", s.logs())
	return nil
}

// stop sends SIGTERM and waits for a clean exit.
func (s *service) stop() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatal(err)
	}
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("hoist run exited with %v after SIGTERM\n%s", err, s.logs())
		}
	case <-time.After(30 * time.Second):
		s.t.Fatalf("hoist run did not stop within 30s of SIGTERM")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// waitHead waits until branch of the bare repository moves from old, and
// returns the new head.
func waitHead(t *testing.T, bare, branch, old string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if h := testenv.GitHead(t, bare, branch); h != old {
			return h
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not move from %s within %s", branch, old, timeout)
	return ""
}

// TestServiceWebhookToCommit runs hoist as a service against a registry
// whose notifications call hoist's Distribution receiver: a push becomes a
// commit; fifty pushes in a second become one commit; a broken
// configuration edit is reported and the last good one keeps running; a
// restart re-commits nothing; SIGTERM stops it cleanly.
func TestServiceWebhookToCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end service test")
	}
	addr := freeAddr(t)
	const token = "hook-token-123"
	hookPath := "/hook/" + hexSHA256(token+"registry"+"apps")
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{
		NotifyURL:     "http://" + addr + hookPath,
		NotifyHeaders: http.Header{"Authorization": {"Bearer " + token}},
	})
	d := reg.PushImage(t, "apps/podinfo", "6.0.0", testenv.ImageOptions{Created: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)})

	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{})
	bare := gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
		"apps/podinfo.yaml": fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: podinfo, namespace: apps}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: %s/apps/podinfo:6.0.0 # {\"$imagepolicy\": \"apps:podinfo\"}\n", reg.Host),
	})

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	secrets := filepath.Join(dir, "secrets")
	writeFile(t, filepath.Join(secrets, "hook", "token"), token)
	writeFile(t, filepath.Join(cfg, "hoist.yaml"), fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: apps}
spec:
  url: %s
  ref: {branch: main}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: podinfo, namespace: apps}
spec:
  image: %s/apps/podinfo
  interval: 1h
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: podinfo, namespace: apps}
spec:
  imageRepositoryRef: {name: podinfo}
  policy:
    semver: {range: '^6'}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: apps}
spec:
  interval: 1h
  sourceRef: {kind: GitRepository, name: fleet}
  git:
    checkout: {ref: {branch: main}}
    commit: {author: {name: hoist, email: hoist@example.com}}
    push: {branch: main}
  update: {path: ./apps, strategy: Setters}
---
apiVersion: hoist.dev/v1alpha1
kind: Receiver
metadata: {name: registry, namespace: apps}
spec:
  type: distribution
  resources: [{kind: ImageRepository, name: podinfo}]
  secretRef: {name: hook}
`, gitSrv.RepoURL("fleet.git"), reg.Host))

	env := []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state"), "HOIST_SECRETS_DIR=" + secrets}
	args := []string{"-c", cfg, "--commit-window", "300ms"}
	svc := startService(t, addr, env, args...)

	// A push becomes a commit, through the webhook (intervals are 1h).
	head := testenv.GitHead(t, bare, "main")
	var latencies []time.Duration
	for i := 1; i <= 3; i++ {
		start := time.Now()
		reg.Tag(t, "apps/podinfo", d, fmt.Sprintf("6.%d.0", i))
		head = waitHead(t, bare, "main", head, 20*time.Second)
		latencies = append(latencies, time.Since(start))
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	t.Logf("push-to-commit latency through the webhook (commit window 300ms): %v", latencies)
	if got := testenv.GitCLI(t, bare, "show", "main:apps/podinfo.yaml"); !strings.Contains(got, "podinfo:6.3.0") {
		t.Fatalf("main does not have 6.3.0:\n%s", got)
	}

	// Fifty tags pushed in a second make one commit.
	var tags []string
	for i := 0; i < 50; i++ {
		tags = append(tags, fmt.Sprintf("6.4.%d", i))
	}
	before := head
	reg.Tag(t, "apps/podinfo", d, tags...)
	waitHead(t, bare, "main", before, 20*time.Second)
	time.Sleep(2 * time.Second) // any second commit would have landed by now
	head = testenv.GitHead(t, bare, "main")
	if n := strings.Count(testenv.GitCLI(t, bare, "rev-list", before+".."+head), "\n"); n != 1 {
		t.Errorf("50 pushes made %d commits, want 1", n)
	}
	if got := testenv.GitCLI(t, bare, "show", "main:apps/podinfo.yaml"); !strings.Contains(got, "podinfo:6.4.49") {
		t.Errorf("main does not have 6.4.49:\n%s", got)
	}

	// A broken edit of the configuration is reported; the service goes on.
	writeFile(t, filepath.Join(cfg, "broken.yaml"), "apiVersion: hoist.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: broken, namespace: apps}\nspec:\n  imageRepositoryRef: {name: nope}\n  policy: {semver: {range: '>>'}}\n")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(svc.logs(), "configuration is invalid") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(svc.logs(), "broken.yaml") {
		t.Errorf("the broken configuration was not reported with its file")
	}
	reg.Tag(t, "apps/podinfo", d, "6.5.0")
	head = waitHead(t, bare, "main", head, 20*time.Second)

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	_, _ = metrics.ReadFrom(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(metrics.String(), "hoist_commits_total") || !strings.Contains(metrics.String(), "hoist_webhook_requests_total") {
		t.Errorf("/metrics has no hoist metrics")
	}
	if strings.Contains(svc.logs()+metrics.String(), token) {
		t.Errorf("the webhook token leaked into logs or metrics")
	}
	// SIGTERM stops it; a restart re-commits nothing.
	svc.stop()
	if err := os.Remove(filepath.Join(cfg, "broken.yaml")); err != nil {
		t.Fatal(err)
	}
	svc = startService(t, addr, env, args...)
	time.Sleep(time.Second)
	if h := testenv.GitHead(t, bare, "main"); h != head {
		t.Errorf("restart moved main from %s to %s", head, h)
	}
	svc.stop()
}

func hexSHA256(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
