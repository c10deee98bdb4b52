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
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/controller"
	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestControllerAtRest counts what `hoist controller` asks of the API
// server once every status is written and nothing changes, while its
// repository is scanned every second: no request at all but the watches.
// A scan that finds what the last one found writes no status (its time
// waits for --status-refresh, an hour by default), the policies' selections
// do not change, there are no events and no reads. A scan that finds a new
// tag writes the repository's status at once; with --status-refresh 0, as
// in Flux, every scan writes its time. Its /metrics serves hoist's metrics
// with controller-runtime's and client-go's.
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
	repoKey := client.ObjectKey{Namespace: f.namespace, Name: f.name}
	var repo v1alpha1.ImageRepository
	waitFor(ctx, t, "the repository's first scan in its status", func() bool {
		return c.Get(ctx, repoKey, &repo) == nil && repo.Status.LastScanResult != nil && ready(repo.Status.Conditions) == metav1.ConditionTrue
	})
	var auto v1alpha1.ImageUpdateAutomation
	waitFor(ctx, t, "the automation's first run in its status", func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: f.namespace, Name: "fleet"}, &auto) == nil &&
			auto.Status.LastAutomationRunTime != nil && ready(auto.Status.Conditions) == metav1.ConditionTrue
	})

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

	// At rest: five scans after every status was written.
	const restScans = 5
	m0, api0 := p.metrics(), kubeMetrics(t, kube.Config)
	waitFor(ctx, t, "five scans", func() bool {
		return p.metrics().sum("hoist_scans_total")-m0.sum("hoist_scans_total") >= restScans
	})
	m1, api1 := p.metrics(), kubeMetrics(t, kube.Config)
	scans := m1.sum("hoist_scans_total") - m0.sum("hoist_scans_total")
	for _, resource := range []string{"imagerepositories", "imagepolicies", "imageupdateautomations", "receivers"} {
		if n := apiCount(api1, api0, resource, "status", "PATCH"); n > 0 {
			t.Errorf("%v %s status writes at rest (%v scans that changed nothing), want none", n, resource, scans)
		}
	}
	for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if n := m1.sum("rest_client_requests_total", `method="`+method+`"`) - m0.sum("rest_client_requests_total", `method="`+method+`"`); n > 0 {
			t.Errorf("%v %s requests at rest, want none (the watches bring the objects)", n, method)
		}
	}
	if err := c.Get(ctx, repoKey, &repo); err != nil {
		t.Fatal(err)
	}
	lastWritten := repo.Status.LastScanResult.ScanTime

	// A scan that changed something writes the repository's status, with
	// the time of that scan.
	f.push("1.1.0")
	waitFor(ctx, t, "the new tag in the repository's status", func() bool {
		return c.Get(ctx, repoKey, &repo) == nil && repo.Status.LastScanResult.TagCount == 2
	})
	if got := repo.Status.LastScanResult; !got.ScanTime.After(lastWritten.Time) || got.LatestTags[0] != "1.1.0" {
		t.Errorf("lastScanResult after the new tag = %+v, want scanTime after %v and 1.1.0 first", got, lastWritten)
	}
	if n := apiCount(kubeMetrics(t, kube.Config), api1, "imagerepositories", "status", "PATCH"); n < 1 {
		t.Errorf("%v ImageRepository status writes for a scan that found a new tag, want one", n)
	}
	p.stop()

	// --status-refresh 0: every scan writes its time, as Flux does.
	// (A new controller writes the repository's status twice before its
	// first scan is recorded, Progressing then Ready: the third write is
	// a scan's time alone.)
	api2 := kubeMetrics(t, kube.Config)
	q := startController(t, kube, "--status-refresh", "0")
	waitFor(ctx, t, "scans that write their time", func() bool {
		return apiCount(kubeMetrics(t, kube.Config), api2, "imagerepositories", "status", "PATCH") >= 4
	})
	q.stop()
}
