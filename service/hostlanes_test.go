package service_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
	"github.com/hoist-dev/hoist/registry/webhook"
	"github.com/hoist-dev/hoist/service"
)

// scanSignals is a slog.Handler that sends the repository of each
// "repository scanned" record to scanned: the signal that a scan is done.
type scanSignals struct{ scanned chan string }

func (h scanSignals) Enabled(context.Context, slog.Level) bool { return true }
func (h scanSignals) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h scanSignals) WithGroup(string) slog.Handler            { return h }
func (h scanSignals) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "repository scanned" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "repository" {
			h.scanned <- a.Value.String()
			return false
		}
		return true
	})
	return nil
}

// awaitScans waits for a scan of each of want, in any order; the timeout
// only bounds a failing test.
func awaitScans(t *testing.T, scanned <-chan string, what string, want ...string) {
	t.Helper()
	left := map[string]bool{}
	for _, k := range want {
		left[k] = true
	}
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	for len(left) > 0 {
		select {
		case k := <-scanned:
			delete(left, k)
		case <-timeout.C:
			t.Fatalf("%s: no scan of %v after a minute", what, left)
		}
	}
}

// TestServiceSlowHostHoldsUpOnlyItself: the scans of a registry host
// whose tag lists do not answer fill that host's lanes (Parallelism per
// host) and no others: the scans of another host, and a webhook's rescan
// of one of them, complete while the slow host's scans are stuck; they
// complete once it answers.
func TestServiceSlowHostHoldsUpOnlyItself(t *testing.T) {
	const parallelism = 2
	slow := testenv.NewRegistry(t, testenv.RegistryOptions{})
	fast := testenv.NewRegistry(t, testenv.RegistryOptions{})
	var docs strings.Builder
	var slowKeys, fastKeys []string
	for _, h := range []struct {
		reg  *testenv.Registry
		name string
		n    int
		keys *[]string
	}{{slow, "slow", parallelism + 1, &slowKeys}, {fast, "fast", 2, &fastKeys}} {
		for i := range h.n {
			name := fmt.Sprintf("%s%d", h.name, i)
			h.reg.PushImage(t, "apps/"+name, "1.0.0", testenv.ImageOptions{})
			*h.keys = append(*h.keys, "apps/"+name)
			fmt.Fprintf(&docs, `---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageRepository
metadata: {name: %[1]s, namespace: apps}
spec: {image: %[2]s, interval: 1h}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: %[1]s, namespace: apps}
spec:
  imageRepositoryRef: {name: %[1]s}
  policy: {semver: {range: '>=1'}}
`, name, h.reg.Ref("apps/"+name, ""))
		}
	}
	docs.WriteString(`---
apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: fast, namespace: apps}
spec:
  type: generic
  secretRef: {name: hook-token}
  resources:
    - {kind: ImageRepository, name: fast1}
`)
	dir := t.TempDir()
	configPath := filepath.Join(dir, "hoist.yaml")
	if err := os.WriteFile(configPath, []byte(docs.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(filepath.Join(secrets, "hook-token"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secrets, "hook-token", "token"), []byte(receiversToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// The slow host's tag lists wait until released (or the client gives
	// up); stuck says each has arrived.
	release := make(chan struct{})
	stuck := make(chan struct{}, 16)
	slow.Faults.Add(testenv.Fault{Method: http.MethodGet, Path: testenv.TagsPath, Do: func(w http.ResponseWriter, r *http.Request, next http.Handler, _ *testenv.Faults) {
		stuck <- struct{}{}
		select {
		case <-release:
			next.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	}})
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()

	client, err := registry.New(registry.WithRateLimit(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	scanned := make(chan string, 64)
	svc, err := service.NewService(service.ServiceOptions{
		Runner:        &automation.Runner{Scanner: &automation.Scanner{Registry: client}, StateDir: t.TempDir(), SecretsDir: secrets},
		ConfigPaths:   []string{configPath},
		Registry:      prometheus.NewRegistry(),
		Logger:        slog.New(scanSignals{scanned}),
		Parallelism:   parallelism,
		StartupSpread: -1, // every first scan due at once
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Load(); err != nil {
		t.Fatal(err)
	}
	hooks := httptest.NewServer(svc.HookHandler())
	t.Cleanup(hooks.Close)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()

	// The slow host's lanes fill: as many scans stuck as it has lanes.
	timeout := time.NewTimer(time.Minute) // only bounds a failing test
	defer timeout.Stop()
	for range parallelism {
		select {
		case <-stuck:
		case <-timeout.C:
			t.Fatal("the slow host's scans did not reach its tag lists")
		}
	}
	awaitScans(t, scanned, "the other host's first scans", fastKeys...)
	resp, err := hooks.Client().Post(hooks.URL+webhook.Path(receiversToken, "fast", "apps"), "application/json", bytes.NewReader([]byte(`{}`)))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: status %d, want %d", resp.StatusCode, http.StatusAccepted)
	}
	awaitScans(t, scanned, "the webhook's rescan", "apps/fast1")
	if n := slow.Faults.Seen(http.MethodGet, testenv.TagsPath); n != parallelism {
		t.Errorf("the slow host got %d tag list requests while its lanes were full, want %d", n, parallelism)
	}

	close(release)
	released = true
	awaitScans(t, scanned, "the slow host's scans once it answers", slowKeys...)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
