package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServiceWebhookBeforeTagIsListed is the regression test of a push
// missed until the next interval: CNCF Distribution sends the notification
// of a manifest push before it writes the tag (registry/handlers/
// manifests.go: manifests.Put, whose listener sends the event, then
// tags.Tag), so the rescan a webhook triggers may list the tags without the
// new one. Here the notification is sent by hand before the tag is pushed;
// hoist must still commit the tag soon, well before the interval (1h).
func TestServiceWebhookBeforeTagIsListed(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end service test")
	}
	// No notifications from the registry: this test sends them.
	f := newFleet(t, fleetOptions{first: "6.0.0", semver: "^6", receiver: true, flux: true})
	svc := f.start("--commit-window", "0", "--startup-spread", "0", "--log-level", "debug")

	head := f.head()
	scans := svc.waitLogCount(`msg="repository scanned"`, 1, 20*time.Second) // the startup scan
	payload := fmt.Sprintf(`{"events": [{"id": "1", "timestamp": "2026-11-26T00:00:00Z", "action": "push",
  "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": %q, "size": 1, "length": 1,
    "repository": "apps/podinfo", "url": "http://%s/v2/apps/podinfo/manifests/%s", "tag": "6.1.0"},
  "request": {"id": "r1", "addr": "127.0.0.1:1", "host": %q, "method": "PUT", "useragent": "test"}}]}`, f.digest, f.reg.Host, f.digest, f.reg.Host)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.hookURL(), strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v2+json")
	req.Header.Set("Authorization", "Bearer "+hookToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %s, want 202 Accepted", resp.Status)
	}
	// The tag becomes visible only after the rescan the notification
	// started has listed the tags without it, as when Distribution's tag
	// write follows its event.
	svc.waitLogCount(`msg="repository scanned"`, scans+1, 10*time.Second)
	f.push("6.1.0")
	start := time.Now()
	waitRef(t, f.bare, "main", head, 5*time.Second)
	t.Logf("committed %s after the tag became visible", time.Since(start).Round(time.Millisecond))
	if got := f.deployed(); !strings.Contains(got, "podinfo:6.1.0") {
		t.Errorf("main does not have 6.1.0:\n%s", got)
	}
	svc.stop()
}
