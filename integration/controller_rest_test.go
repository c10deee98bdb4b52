package integration

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/controller"
	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestControllerAtRest counts what `hoist controller` asks of the API
// server once every status is written and nothing changes, while its
// repository is scanned every second: one status write per repository
// scan (lastScanResult.scanTime), none for the policies, whose selections
// do not change, no events, and no reads (the objects come from the
// watches). Its /metrics serves hoist's metrics with controller-runtime's
// and client-go's.
func TestControllerAtRest(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end controller test")
	}
	kube := testenv.StartKube(t, controller.NewScheme(), filepath.Join("..", "config", "crd"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := kube.Client
	f := newFleet(t, fleetOptions{first: "1.0.0", semver: ">=1.0.0", repoInterval: "1s"})
	policy := applyFleet(ctx, t, c, f, nil)
	create(ctx, t, c, policy("other", "<2.0.0"))
	create(ctx, t, c, policy("third", "~1.0.0"))
	p := startController(t, kube)
	for _, name := range []string{"podinfo", "other", "third"} {
		waitPolicy(ctx, t, c, f.namespace, name, func(p *v1alpha1.ImagePolicy) bool {
			return p.Status.LatestRef != nil && p.Status.LatestRef.Tag == "1.0.0" && ready(p.Status.Conditions) == metav1.ConditionTrue
		})
	}

	// /metrics answers, with every registry's metrics (two registries
	// that both collect the Go runtime's made it answer 500).
	resp, err := http.Get("http://" + p.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s, %v:\n%s", resp.Status, err, tail(string(body), 2000))
	}
	for _, name := range []string{"hoist_scans_total", "controller_runtime_reconcile_total", "rest_client_requests_total", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(string(body), "\n"+name) {
			t.Errorf("/metrics has no %s", name)
		}
	}

	// At rest: at least five scans after every status was written, and
	// after the writes those made.
	const restScans = 5
	m0, api0 := p.metrics(), kubeMetrics(t, kube.Config)
	waitFor(ctx, t, "five scans", func() bool {
		return p.metrics().sum("hoist_scans_total")-m0.sum("hoist_scans_total") >= restScans
	})
	m1, api1 := p.metrics(), kubeMetrics(t, kube.Config)
	scans := m1.sum("hoist_scans_total") - m0.sum("hoist_scans_total")
	if n := apiCount(api1, api0, "imagepolicies", "status", "PATCH"); n > 0 {
		t.Errorf("%v ImagePolicy status writes at rest (%v scans, no selection changed), want none", n, scans)
	}
	// One write a scan; one more for a scan counted before m0 whose
	// write came after api0.
	if n := apiCount(api1, api0, "imagerepositories", "status", "PATCH"); n > scans+1 {
		t.Errorf("%v ImageRepository status writes at rest for %v scans, want at most one a scan", n, scans)
	}
	for _, method := range []string{"GET", "POST", "PUT", "DELETE"} {
		if n := m1.sum("rest_client_requests_total", `method="`+method+`"`) - m0.sum("rest_client_requests_total", `method="`+method+`"`); n > 0 {
			t.Errorf("%v %s requests at rest, want none (the watches bring the objects)", n, method)
		}
	}
	p.stop()
}
