package integration

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
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
	addr := freeAddr(t)
	const token = "hook-token-456"
	hookURL := "http://" + addr + "/hook/" + hexSHA256(token+"registry"+"apps")
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{}) // no notifications: this test sends them
	d := reg.PushImage(t, "apps/podinfo", "6.0.0", testenv.ImageOptions{})

	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{})
	bare := gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
		"apps/podinfo.yaml": fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: podinfo, namespace: apps}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: %s/apps/podinfo:6.0.0 # {\"$imagepolicy\": \"apps:podinfo\"}\n", reg.Host),
	})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	writeFile(t, filepath.Join(dir, "secrets", "hook", "token"), token)
	writeFile(t, filepath.Join(cfg, "hoist.yaml"), fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: apps}
spec: {url: %s, ref: {branch: main}}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: podinfo, namespace: apps}
spec: {image: %s/apps/podinfo, interval: 1h}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: podinfo, namespace: apps}
spec:
  imageRepositoryRef: {name: podinfo}
  policy: {semver: {range: '^6'}}
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
	svc := startService(t, addr, []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state"), "HOIST_SECRETS_DIR=" + filepath.Join(dir, "secrets")},
		"-c", cfg, "--commit-window", "-1ns")

	head := testenv.GitHead(t, bare, "main")
	payload := fmt.Sprintf(`{"events": [{"id": "1", "timestamp": "2026-11-26T00:00:00Z", "action": "push",
  "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": %q, "size": 1, "length": 1,
    "repository": "apps/podinfo", "url": "http://%s/v2/apps/podinfo/manifests/%s", "tag": "6.1.0"},
  "request": {"id": "r1", "addr": "127.0.0.1:1", "host": %q, "method": "PUT", "useragent": "test"}}]}`, d, reg.Host, d, reg.Host)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, hookURL, strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.docker.distribution.events.v2+json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("webhook: %s, want 202 Accepted", resp.Status)
	}
	// The tag becomes visible just after the notification, as when
	// Distribution's tag write follows its event.
	time.Sleep(100 * time.Millisecond)
	reg.Tag(t, "apps/podinfo", d, "6.1.0")
	start := time.Now()
	waitHead(t, bare, "main", head, 5*time.Second)
	t.Logf("committed %s after the tag became visible", time.Since(start).Round(time.Millisecond))
	if got := testenv.GitCLI(t, bare, "show", "main:apps/podinfo.yaml"); !strings.Contains(got, "podinfo:6.1.0") {
		t.Errorf("main does not have 6.1.0:\n%s", got)
	}
	svc.stop()
}
