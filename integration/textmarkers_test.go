package integration

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// fleetWithTextMarkers is a Git repository whose Jsonnet, Dockerfile and
// an included script carry markers, and the configuration of an
// automation over it; it returns the config directory, the secrets
// directory and the bare repository.
func fleetWithTextMarkers(t *testing.T, reg *testenv.Registry, extra string) (cfg, secrets, bare string, files map[string]string) {
	t.Helper()
	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{Username: "hoist", Password: "pw"})
	bare = gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	files = map[string]string{
		"deploy/app.jsonnet": fmt.Sprintf(`local lib = import 'lib.libsonnet';
{
  // kept by hoist
  image: '%s/apps/web:1.0.0',  // {"$imagepolicy": "apps:web"}
  tag: "1.0.0", // {"$imagepolicy": "apps:web:tag"}
  name: lib.name,
}
`, reg.Host),
		"deploy/lib.libsonnet": "{ name: 'web' }\n",
		"deploy/Dockerfile": fmt.Sprintf(`# syntax=docker/dockerfile:1
# {"$imagepolicy": "apps:web"}
FROM %s/apps/web:1.0.0 AS base
RUN true
`, reg.Host),
		"deploy/scripts/image.sh": fmt.Sprintf("IMAGE=%s/apps/web:1.0.0 # {\"$imagepolicy\": \"apps:web\"}\n", reg.Host),
		"deploy/notes.txt":        fmt.Sprintf("IMAGE=%s/apps/web:1.0.0 # {\"$imagepolicy\": \"apps:web\"}\n", reg.Host),
	}
	testenv.GitCommitFiles(t, bare, "main", "initial", files)

	dir := t.TempDir()
	cfg = filepath.Join(dir, "config")
	secrets = filepath.Join(dir, "secrets")
	writeFile(t, filepath.Join(secrets, "fleet-auth", "username"), "hoist")
	writeFile(t, filepath.Join(secrets, "fleet-auth", "password"), "pw")
	writeFile(t, filepath.Join(cfg, "automation.yaml"), fmt.Sprintf(`apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: fleet, namespace: apps}
spec:
  url: %s
  ref: {branch: main}
  secretRef: {name: fleet-auth}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageRepository
metadata: {name: web, namespace: apps}
spec:
  image: %s/apps/web
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: web, namespace: apps, labels: {team: web}}
spec:
  imageRepositoryRef: {name: web}
  policy:
    semver: {range: '^1'}
---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImageUpdateAutomation
metadata: {name: prod, namespace: apps}
spec:
  sourceRef: {kind: GitRepository, name: fleet}
  git:
    checkout: {ref: {branch: main}}
    commit:
      author: {name: hoist-bot, email: bot@example.com}
    push: {branch: main}
  update:
    path: ./deploy
    include: ['scripts/*.sh']
%s`, gitSrv.RepoURL("fleet.git"), reg.Host, extra))
	return cfg, secrets, bare, files
}

// TestRunOnceTextMarkers runs hoist run --once against the real registry
// and Git server over a repository whose Jsonnet and Dockerfile carry
// markers: both are rewritten byte for byte, the included script too, and
// a file neither known by name nor included is left alone.
func TestRunOnceTextMarkers(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "apps/web", "1.0.0", testenv.ImageOptions{Created: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)})
	reg.Tag(t, "apps/web", d, "1.1.0")
	cfg, secrets, bare, files := fleetWithTextMarkers(t, reg, "")

	env := []string{"HOIST_STATE_DIR=" + filepath.Join(t.TempDir(), "state")}
	r := hoist(t, env, "run", "--once", "-c", cfg, "--secrets-dir", secrets, "-o", "json")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	var out struct {
		Automations []struct {
			Pushed  bool
			Changes []runChangeJSON
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if len(out.Automations) != 1 || !out.Automations[0].Pushed {
		t.Fatalf("unexpected result: %s", r.stdout)
	}
	var got []string
	for _, c := range out.Automations[0].Changes {
		got = append(got, fmt.Sprintf("%s:%d:%d %s", c.File, c.Line, c.Column, c.Setter))
	}
	want := []string{
		"deploy/Dockerfile:3:6 apps:web",
		"deploy/app.jsonnet:4:10 apps:web",
		"deploy/app.jsonnet:5:8 apps:web:tag",
		"deploy/scripts/image.sh:1:7 apps:web",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	for p, content := range files {
		wantFile := content
		if p != "deploy/notes.txt" && p != "deploy/lib.libsonnet" {
			wantFile = strings.ReplaceAll(strings.ReplaceAll(content, "web:1.0.0", "web:1.1.0"), `"1.0.0"`, `"1.1.0"`)
		}
		if gotFile := testenv.GitCLI(t, bare, "show", "main:"+p); gotFile != wantFile {
			t.Errorf("%s on main:\n%s\nwant:\n%s", p, gotFile, wantFile)
		}
	}
}

// eventSink is a local webhook that records the events posted to it,
// checking the HMAC signature when it has a key.
type eventSink struct {
	*httptest.Server
	mu     sync.Mutex
	events []map[string]any
	paths  []string
	bad    []string
}

func newEventSink(t *testing.T, key string) *eventSink {
	s := &eventSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		if key != "" {
			mac := hmac.New(sha256.New, []byte(key))
			mac.Write(body)
			if r.Header.Get("X-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
				s.bad = append(s.bad, r.Header.Get("X-Signature"))
				http.Error(w, "bad signature", http.StatusUnauthorized)
				return
			}
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			s.bad = append(s.bad, string(body))
		}
		s.events = append(s.events, m)
		s.paths = append(s.paths, r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *eventSink) got() ([]map[string]any, []string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events, s.paths, s.bad
}

// TestRunOnceNotifications runs hoist run --once with Flux's Provider and
// Alert documents: a generic-hmac webhook gets the new selection, the push
// and the failure, signed; a Slack-format webhook whose Alert wants errors
// only gets the failure; a Gitea commit status is set on the pushed
// commit.
func TestRunOnceNotifications(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "apps/web", "1.0.0", testenv.ImageOptions{Created: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)})
	reg.Tag(t, "apps/web", d, "1.1.0")
	hook := newEventSink(t, "hmac-key")
	slack := newEventSink(t, "")
	gitea := newEventSink(t, "")
	extra := fmt.Sprintf(`---
apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata: {name: none, namespace: apps}
spec:
  imageRepositoryRef: {name: web}
  policy:
    semver: {range: '^9'}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hook, namespace: apps}
spec:
  type: generic-hmac
  address: %s/hook
  secretRef: {name: hook-key}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: all, namespace: apps}
spec:
  providerRef: {name: hook}
  summary: web images
  eventSources:
  - {kind: ImageUpdateAutomation, name: prod}
  - {kind: ImagePolicy, name: '*', matchLabels: {team: web}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: chat, namespace: apps}
spec:
  type: slack
  channel: '#deploys'
  secretRef: {name: chat-url}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: errors, namespace: apps}
spec:
  providerRef: {name: chat}
  eventSeverity: error
  eventSources: [{kind: ImageUpdateAutomation, name: '*'}]
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: status, namespace: apps}
spec:
  type: gitea
  address: %s/acme/fleet
  secretRef: {name: gitea-token}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: status, namespace: apps}
spec:
  providerRef: {name: status}
  eventSources: [{kind: ImageUpdateAutomation, name: prod}]
`, hook.URL, gitea.URL)
	cfg, secrets, bare, _ := fleetWithTextMarkers(t, reg, extra)
	// A marker of the policy that selects nothing: its failure is reported.
	testenv.GitCommitFiles(t, bare, "main", "a second marker", map[string]string{
		"deploy/none.env": fmt.Sprintf("X=%s/apps/web:1.0.0 # {\"$imagepolicy\": \"apps:none\"}\n", reg.Host),
	})
	writeFile(t, filepath.Join(secrets, "hook-key", "token"), "hmac-key\n")
	writeFile(t, filepath.Join(secrets, "chat-url", "address"), slack.URL+"/services/T0/B0/XYZ")
	writeFile(t, filepath.Join(secrets, "gitea-token", "token"), "gitea-pat")

	env := []string{"HOIST_STATE_DIR=" + filepath.Join(t.TempDir(), "state")}
	r := hoist(t, env, "run", "--once", "-c", cfg, "--secrets-dir", secrets)
	if r.code != 1 {
		t.Fatalf("run: exit %d, want 1 (a policy fails)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	head := testenv.GitHead(t, bare, "main")

	events, _, bad := hook.got()
	if len(bad) > 0 {
		t.Errorf("bad requests: %q", bad)
	}
	type ev struct{ Kind, Name, Severity, Reason, Revision, Summary string }
	var got []ev
	for _, e := range events {
		o := e["involvedObject"].(map[string]any)
		md, _ := e["metadata"].(map[string]any)
		got = append(got, ev{o["kind"].(string), o["name"].(string), e["severity"].(string), e["reason"].(string), fmt.Sprint(md["revision"]), fmt.Sprint(md["summary"])})
	}
	rev := "main@sha1:" + head
	want := []ev{
		{"ImagePolicy", "web", "info", "NewSelection", rev, "web images"},
		{"ImageUpdateAutomation", "prod", "info", "Pushed", rev, "web images"},
		{"ImageUpdateAutomation", "prod", "error", "Failed", rev, "web images"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("generic-hmac events (-want +got):\n%s", diff)
	}
	if len(events) == 3 && !strings.Contains(events[2]["message"].(string), "apps:none") {
		t.Errorf("the failure does not name the policy: %v", events[2]["message"])
	}

	chat, paths, _ := slack.got()
	if len(chat) != 1 || paths[0] != "/services/T0/B0/XYZ" || chat[0]["channel"] != "#deploys" {
		t.Errorf("slack: %v at %v", chat, paths)
	} else if att := chat[0]["attachments"].([]any)[0].(map[string]any); att["color"] != "danger" {
		t.Errorf("slack attachment %v", att)
	}

	statuses, paths, _ := gitea.got()
	// The Pushed event and the Failed one both name the commit.
	if len(statuses) != 2 || paths[0] != "/api/v1/repos/acme/fleet/statuses/"+head ||
		statuses[0]["state"] != "success" || statuses[1]["state"] != "failure" {
		t.Errorf("gitea statuses %v at %v", statuses, paths)
	}
}

// TestRunOnceRepositoryNotificationsNotRead: a Provider and an Alert in
// the automation's update path in Git (a repository is untrusted) are not
// read: hoist never sends where they say, nor with the secret they name,
// and says so, naming the file and line, in its output and its log. The
// configuration's own Provider of the same name still gets the events.
func TestRunOnceRepositoryNotificationsNotRead(t *testing.T) {
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "apps/web", "1.0.0", testenv.ImageOptions{Created: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)})
	reg.Tag(t, "apps/web", d, "1.1.0")
	good := newEventSink(t, "")
	evil := newEventSink(t, "")
	cfg, secrets, bare, _ := fleetWithTextMarkers(t, reg, fmt.Sprintf(`---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hook, namespace: apps}
spec: {type: generic, address: %s/good}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: all, namespace: apps}
spec:
  providerRef: {name: hook}
  eventSources: [{kind: ImageUpdateAutomation, name: prod}]
`, good.URL))
	// The repository's own: the same Provider's name, with another
	// address and the Git credentials' secret as headers' source.
	testenv.GitCommitFiles(t, bare, "main", "notifications", map[string]string{
		"deploy/alerts.yaml": fmt.Sprintf(`apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Provider
metadata: {name: hook, namespace: apps}
spec: {type: generic, address: %[1]s/evil, secretRef: {name: fleet-auth}}
---
apiVersion: hoist.dev/v1alpha1
kind: Provider
metadata: {name: exfil, namespace: apps}
spec: {type: slack, address: %[1]s/slack, secretRef: {name: fleet-auth}}
---
apiVersion: notification.toolkit.fluxcd.io/v1beta3
kind: Alert
metadata: {name: everything, namespace: apps}
spec:
  providerRef: {name: exfil}
  eventSources: [{kind: ImageUpdateAutomation, name: '*'}, {kind: ImagePolicy, name: '*'}]
`, evil.URL),
	})
	env := []string{"HOIST_STATE_DIR=" + filepath.Join(t.TempDir(), "state")}
	r := hoist(t, env, "run", "--once", "-c", cfg, "--secrets-dir", secrets)
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if got, _, _ := evil.got(); len(got) > 0 {
		t.Errorf("the repository's Providers were sent to: %v", got)
	}
	if got, paths, _ := good.got(); len(got) != 1 || paths[0] != "/good" || got[0]["reason"] != "Pushed" {
		t.Errorf("the configuration's Provider got %v at %v", got, paths)
	}
	for _, w := range []string{
		"warning: alerts.yaml:2: kind: Provider apps/hook not read",
		"warning: alerts.yaml:7: kind: Provider apps/exfil not read",
		"warning: alerts.yaml:12: kind: Alert apps/everything not read",
	} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout does not say %q:\n%s", w, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "document not read") || !strings.Contains(r.stderr, "deploy/alerts.yaml") {
		t.Errorf("the log does not say which document was not read:\n%s", r.stderr)
	}

	r = hoist(t, env, "run", "--once", "-c", cfg, "--secrets-dir", secrets, "-o", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"file": "alerts.yaml"`) || !strings.Contains(r.stdout, "Alert apps/everything not read") {
		t.Errorf("run -o json: exit %d, the warnings are missing:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
