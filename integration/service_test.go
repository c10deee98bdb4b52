package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestServiceWebhookToCommit runs hoist as a service against a registry
// whose notifications call hoist's Distribution receiver: a push becomes a
// commit; fifty pushes in a second become one commit; a broken
// configuration edit is reported and the last good one keeps running; a
// restart re-commits nothing; SIGTERM stops it cleanly.
func TestServiceWebhookToCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end service test")
	}
	f := newFleet(t, fleetOptions{first: "6.0.0", semver: "^6", notify: true, flux: true})
	const window = 2 * time.Second
	args := []string{"--commit-window", window.String(), "--log-level", "debug"}
	svc := f.start(args...)

	// A push becomes a commit, through the webhook (intervals are 1h).
	var latencies []time.Duration
	for i := 1; i <= 3; i++ {
		start := time.Now()
		_, at := waitRef(t, f.bare, "main", f.push(fmt.Sprintf("6.%d.0", i)), 20*time.Second)
		latencies = append(latencies, at.Sub(start))
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	t.Logf("push-to-commit latency through the webhook (commit window %s): %v", window, latencies)
	if got := f.deployed(); !strings.Contains(got, "podinfo:6.3.0") {
		t.Fatalf("main does not have 6.3.0:\n%s", got)
	}

	// hoist status shows the selection and the push. The push is recorded
	// just after the branch moves: wait for the status to say so.
	var st struct {
		Policies    []struct{ Namespace, Name, Ref, Error string }
		Automations []struct {
			Namespace, Name string
			LastPush        struct{ Commit, Branch string }
		}
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		r := hoist(t, nil, "status", "--server", f.addr, "-o", "json")
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != 0 {
			t.Fatalf("hoist status: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
		}
		if len(st.Automations) == 1 && st.Automations[0].LastPush.Commit == f.head() || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(st.Policies) != 1 || !strings.HasSuffix(st.Policies[0].Ref, "/apps/podinfo:6.3.0") || st.Policies[0].Error != "" {
		t.Errorf("status of the policies: %+v", st.Policies)
	}
	if len(st.Automations) != 1 || st.Automations[0].LastPush.Commit != f.head() || st.Automations[0].LastPush.Branch != "main" {
		t.Errorf("status of the automations: %+v, main at %s", st.Automations, f.head())
	}
	if r := hoist(t, nil, "status", "--server", f.addr); r.code != 0 || !strings.Contains(r.stdout, "apps/podinfo") || !strings.Contains(r.stdout, "apps/fleet") {
		t.Errorf("hoist status table: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := hoist(t, nil, "status", "--server", freeAddr(t)); r.code != 1 || !strings.Contains(r.stderr, "asking the hoist service") {
		t.Errorf("hoist status without a service: exit %d\n%s", r.code, r.stderr)
	}

	// Fifty tags pushed within the window make one commit. On a loaded
	// machine the selections they cause (webhook, rescan) may spread over
	// more than the window: each window they span may then make one commit
	// more, and one more when a selection lands while a commit is being
	// pushed. The span is read from hoist's own log of the selections, not
	// from the test's clock.
	var tags []string
	for i := 0; i < 50; i++ {
		tags = append(tags, fmt.Sprintf("6.4.%d", i))
	}
	// Barrier: wait until main has the last tag; a second commit would
	// have to come before that, since nothing is newer than 6.4.49.
	before := f.push(tags...)
	head := before
	for !strings.Contains(f.deployed(), "podinfo:6.4.49") {
		head, _ = waitRef(t, f.bare, "main", head, 20*time.Second)
	}
	span := selectionSpan(t, svc.logs(), "podinfo:6.4.")
	want := 2 + int(span/window)
	if n := strings.Count(testenv.GitCLI(t, f.bare, "rev-list", before+".."+head), "\n"); n > want {
		t.Errorf("50 pushes whose selections spanned %s made %d commits, want at most %d", span.Round(time.Millisecond), n, want)
	}
	if got := f.deployed(); !strings.Contains(got, "podinfo:6.4.49") {
		t.Errorf("main does not have 6.4.49:\n%s", got)
	}

	// A broken edit of the configuration is reported; the service goes on.
	broken := filepath.Join(f.config(), "broken.yaml")
	writeFile(t, broken, "apiVersion: hoist.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: broken, namespace: apps}\nspec:\n  imageRepositoryRef: {name: nope}\n  policy: {semver: {range: '>>'}}\n")
	svc.waitLog("configuration is invalid", 10*time.Second)
	if !strings.Contains(svc.logs(), "broken.yaml") {
		t.Errorf("the broken configuration was not reported with its file")
	}
	head, _ = waitRef(t, f.bare, "main", f.push("6.5.0"), 20*time.Second)

	resp, err := http.Get("http://" + f.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	var metrics bytes.Buffer
	_, _ = metrics.ReadFrom(resp.Body)
	_ = resp.Body.Close()
	if !strings.Contains(metrics.String(), "hoist_commits_total") || !strings.Contains(metrics.String(), "hoist_webhook_requests_total") {
		t.Errorf("/metrics has no hoist metrics")
	}
	if strings.Contains(svc.logs()+metrics.String(), hookToken) {
		t.Errorf("the webhook token leaked into logs or metrics")
	}
	// SIGTERM stops it; a restart re-commits nothing.
	svc.stop()
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}
	svc = f.start(args...)
	svc.waitLog(`msg="automation: nothing to do" automation=apps/fleet`, 20*time.Second) // its first run has ended
	if h := f.head(); h != head {
		t.Errorf("restart moved main from %s to %s", head, h)
	}
	svc.stop()
}

// selectionSpan returns the time between the first and the last "selection
// changed" lines of hoist's text log whose new reference contains to.
func selectionSpan(t *testing.T, logs, to string) time.Duration {
	t.Helper()
	var first, last time.Time
	for _, line := range strings.Split(logs, "\n") {
		if !strings.Contains(line, `msg="selection changed"`) || !strings.Contains(line, to) {
			continue
		}
		stamp, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		at, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil {
			t.Fatalf("log line without a time: %q: %v", line, err)
		}
		if first.IsZero() {
			first = at
		}
		last = at
	}
	if first.IsZero() {
		t.Fatalf("hoist logged no selection of %s:\n%s", to, logs)
	}
	return last.Sub(first)
}
