package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/notification/v1beta3"
	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// fakeClock advances only when told, or by the waits it is asked for,
// which it records: retries take no wall time.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// hit is one request a test server received.
type hit struct {
	Path   string
	Header http.Header
	Body   []byte
}

// server is a local HTTP server that records requests and answers with
// the statuses of codes in turn (then 200).
type server struct {
	*httptest.Server
	mu    sync.Mutex
	hits  []hit
	codes []int
}

func newServer(t *testing.T, codes ...int) *server {
	t.Helper()
	s := &server{codes: codes}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.hits = append(s.hits, hit{Path: r.URL.Path, Header: r.Header.Clone(), Body: b})
		code := http.StatusOK
		if len(s.codes) > 0 {
			code, s.codes = s.codes[0], s.codes[1:]
		}
		s.mu.Unlock()
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "7")
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) got() []hit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hit(nil), s.hits...)
}

func writeSecret(t *testing.T, dir, name string, kv map[string]string) {
	t.Helper()
	for k, v := range kv {
		p := filepath.Join(dir, name, k)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// setWith is a Set with one Provider and one Alert on every automation
// and policy of namespace apps.
func setWith(spec v1beta3.ProviderSpec, alert v1beta3.AlertSpec) *config.Set {
	p := &config.Provider{Provider: &v1beta3.Provider{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "apps"}, Spec: spec}}
	if alert.EventSources == nil {
		alert.EventSources = []v1alpha1.CrossNamespaceObjectReference{
			{Kind: v1alpha1.ImageUpdateAutomationKind, Name: "*"}, {Kind: v1alpha1.ImagePolicyKind, Name: "*"},
		}
	}
	alert.ProviderRef.Name = "p"
	a := &config.Alert{Alert: &v1beta3.Alert{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "apps"}, Spec: alert}, Provider: p}
	return &config.Set{Providers: []*config.Provider{p}, Alerts: []*config.Alert{a}}
}

var (
	t0     = time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)
	sha    = "0123456789abcdef0123456789abcdef01234567"
	pushed = Event{
		InvolvedObject: ObjectReference{Kind: v1alpha1.ImageUpdateAutomationKind, Namespace: "apps", Name: "prod", APIVersion: v1alpha1.APIVersion},
		Severity:       v1beta3.SeverityInfo, Reason: ReasonPushed, Message: "pushed 0123456 to main: 1 change",
		Metadata: map[string]string{MetaRevision: "main@sha1:" + sha},
	}
	failedEv = Event{
		InvolvedObject: ObjectReference{Kind: v1alpha1.ImageUpdateAutomationKind, Namespace: "apps", Name: "prod"},
		Severity:       v1beta3.SeverityError, Reason: ReasonFailed, Message: "automation apps/prod: cloning: refused",
	}
)

func TestProviders(t *testing.T) {
	type check func(t *testing.T, h hit, token string)
	jsonBody := func(t *testing.T, h hit) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(h.Body, &m); err != nil {
			t.Fatalf("body %s: %v", h.Body, err)
		}
		return m
	}
	tests := map[string]struct {
		typ     string
		path    string // of the address
		secret  map[string]string
		ev      Event
		spec    v1beta3.ProviderSpec
		wantURL string
		check   check
	}{
		"generic with headers": {
			typ: "generic", path: "/hook", secret: map[string]string{"headers": "X-Team: platform\nAuthorization: Bearer abc\n"},
			ev: pushed, wantURL: "/hook",
			check: func(t *testing.T, h hit, _ string) {
				var e Event
				if err := json.Unmarshal(h.Body, &e); err != nil {
					t.Fatal(err)
				}
				want := pushed
				want.Timestamp, want.ReportingController = t0, ReportingController
				if diff := cmp.Diff(want, e); diff != "" {
					t.Errorf("event (-want +got):\n%s", diff)
				}
				if h.Header.Get("X-Team") != "platform" || h.Header.Get("Authorization") != "Bearer abc" {
					t.Errorf("headers %v", h.Header)
				}
				if h.Header.Get("X-Signature") != "" {
					t.Errorf("generic signs: %v", h.Header)
				}
			},
		},
		"generic-hmac": {
			typ: "generic-hmac", path: "/hmac", secret: map[string]string{"token": "s3cret\n"}, ev: failedEv, wantURL: "/hmac",
			check: func(t *testing.T, h hit, token string) {
				mac := hmac.New(sha256.New, []byte("s3cret"))
				mac.Write(h.Body)
				if got, want := h.Header.Get("X-Signature"), "sha256="+hex.EncodeToString(mac.Sum(nil)); got != want {
					t.Errorf("X-Signature %q, want %q", got, want)
				}
				if m := jsonBody(t, h); m["severity"] != "error" || m["reason"] != ReasonFailed {
					t.Errorf("body %s", h.Body)
				}
			},
		},
		"slack": {
			typ: "slack", path: "/services/T/B/X", spec: v1beta3.ProviderSpec{Channel: "#deploys", Username: "hoist"},
			ev: failedEv, wantURL: "/services/T/B/X",
			check: func(t *testing.T, h hit, _ string) {
				want := `{"channel":"#deploys","username":"hoist","attachments":[{"color":"danger","author_name":"imageupdateautomation/prod.apps","text":"automation apps/prod: cloning: refused","mrkdwn_in":["text"]}]}`
				if string(h.Body) != want {
					t.Errorf("body\n%s\nwant\n%s", h.Body, want)
				}
			},
		},
		"slack with a token": {
			typ: "slack", path: "/api/chat.postMessage", secret: map[string]string{"token": "xoxb-1"}, ev: pushed, wantURL: "/api/chat.postMessage",
			check: func(t *testing.T, h hit, _ string) {
				if h.Header.Get("Authorization") != "Bearer xoxb-1" {
					t.Errorf("Authorization %q", h.Header.Get("Authorization"))
				}
				if !strings.Contains(string(h.Body), `"fields":[{"title":"revision","value":"main@sha1:`+sha+`","short":false}]`) {
					t.Errorf("body %s", h.Body)
				}
			},
		},
		"discord": {
			typ: "discord", path: "/api/webhooks/1/tok", spec: v1beta3.ProviderSpec{Username: "hoist"}, ev: pushed, wantURL: "/api/webhooks/1/tok/slack",
			check: func(t *testing.T, h hit, _ string) {
				if m := jsonBody(t, h); m["username"] != "hoist" || m["attachments"] == nil {
					t.Errorf("body %s", h.Body)
				}
			},
		},
		"msteams": {
			typ: "msteams", path: "/workflows/x", ev: pushed, wantURL: "/workflows/x",
			check: func(t *testing.T, h hit, _ string) {
				for _, s := range []string{`"type":"message"`, `"contentType":"application/vnd.microsoft.card.adaptive"`, `"text":"imageupdateautomation/prod.apps"`, `"text":"pushed 0123456 to main: 1 change"`, `"FactSet"`} {
					if !strings.Contains(string(h.Body), s) {
						t.Errorf("body lacks %s: %s", s, h.Body)
					}
				}
			},
		},
		"github commit status": {
			typ: "github", path: "/acme/app", secret: map[string]string{"token": "ghp_1"}, ev: pushed, wantURL: "/api/v3/repos/acme/app/statuses/" + sha,
			check: func(t *testing.T, h hit, _ string) {
				if h.Header.Get("Authorization") != "Bearer ghp_1" {
					t.Errorf("Authorization %q", h.Header.Get("Authorization"))
				}
				want := map[string]any{"state": "success", "context": "imageupdateautomation/prod", "description": "pushed 0123456 to main: 1 change"}
				if diff := cmp.Diff(want, jsonBody(t, h)); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			},
		},
		"gitlab commit status": {
			typ: "gitlab", path: "/group/sub/app.git", secret: map[string]string{"token": "glpat"}, ev: pushed, wantURL: "/api/v4/projects/group%2Fsub%2Fapp/statuses/" + sha,
			check: func(t *testing.T, h hit, _ string) {
				if h.Header.Get("PRIVATE-TOKEN") != "glpat" {
					t.Errorf("PRIVATE-TOKEN %q", h.Header.Get("PRIVATE-TOKEN"))
				}
				if m := jsonBody(t, h); m["state"] != "success" || m["name"] != "imageupdateautomation/prod" {
					t.Errorf("body %s", h.Body)
				}
			},
		},
		"gitea commit status": {
			typ: "gitea", path: "/acme/app", secret: map[string]string{"token": "gt"}, ev: pushed, wantURL: "/api/v1/repos/acme/app/statuses/" + sha,
			check: func(t *testing.T, h hit, _ string) {
				if h.Header.Get("Authorization") != "token gt" {
					t.Errorf("Authorization %q", h.Header.Get("Authorization"))
				}
				if m := jsonBody(t, h); m["state"] != "success" || m["context"] != "imageupdateautomation/prod" {
					t.Errorf("body %s", h.Body)
				}
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t)
			dir := t.TempDir()
			spec := tc.spec
			spec.Type = tc.typ
			if tc.secret != nil {
				writeSecret(t, dir, "sec", tc.secret)
				spec.SecretRef = &v1alpha1.LocalObjectReference{Name: "sec"}
			}
			spec.Address = srv.URL + tc.path
			n := New(dir, WithClock(&fakeClock{now: t0}))
			out := n.Notify(context.Background(), setWith(spec, v1beta3.AlertSpec{}), []Event{tc.ev})
			if len(out.Errors) > 0 || out.Sent != 1 {
				t.Fatalf("outcome %+v", out)
			}
			hits := srv.got()
			if len(hits) != 1 {
				t.Fatalf("%d requests", len(hits))
			}
			if hits[0].Path != strings.Split(tc.wantURL, "%")[0] && hits[0].Path != strings.ReplaceAll(tc.wantURL, "%2F", "/") {
				t.Errorf("path %q, want %q", hits[0].Path, tc.wantURL)
			}
			tc.check(t, hits[0], "")
		})
	}
}

func TestCommitStatusNeedsARevision(t *testing.T) {
	srv := newServer(t)
	dir := t.TempDir()
	writeSecret(t, dir, "sec", map[string]string{"token": "x"})
	n := New(dir, WithClock(&fakeClock{now: t0}))
	spec := v1beta3.ProviderSpec{Type: "github", Address: srv.URL + "/a/b", SecretRef: &v1alpha1.LocalObjectReference{Name: "sec"}}
	out := n.Notify(context.Background(), setWith(spec, v1beta3.AlertSpec{}), []Event{failedEv})
	if out.Skipped != 1 || out.Sent != 0 || len(srv.got()) != 0 {
		t.Errorf("outcome %+v, %d requests", out, len(srv.got()))
	}
}

func TestRetries(t *testing.T) {
	tests := map[string]struct {
		codes     []int
		wantHits  int
		wantWaits []time.Duration
		wantErr   string
	}{
		"5xx then success":     {codes: []int{500, 502}, wantHits: 3, wantWaits: []time.Duration{time.Second, 2 * time.Second}},
		"429 with Retry-After": {codes: []int{429}, wantHits: 2, wantWaits: []time.Duration{7 * time.Second}},
		"gives up":             {codes: []int{503, 503, 503, 503}, wantHits: 4, wantWaits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, wantErr: "503"},
		"4xx is not retried":   {codes: []int{400}, wantHits: 1, wantErr: "400 Bad Request"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := newServer(t, tc.codes...)
			clk := &fakeClock{now: t0}
			n := New(t.TempDir(), WithClock(clk))
			out := n.Notify(context.Background(), setWith(v1beta3.ProviderSpec{Type: "generic", Address: srv.URL + "/secret-path"}, v1beta3.AlertSpec{}), []Event{pushed})
			if got := len(srv.got()); got != tc.wantHits {
				t.Errorf("%d requests, want %d", got, tc.wantHits)
			}
			if diff := cmp.Diff(tc.wantWaits, clk.waits); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
			switch {
			case tc.wantErr == "" && len(out.Errors) > 0:
				t.Errorf("errors %v", out.Errors)
			case tc.wantErr != "" && (len(out.Errors) != 1 || !strings.Contains(out.Errors[0].Error(), tc.wantErr)):
				t.Errorf("errors %v, want %q", out.Errors, tc.wantErr)
			case tc.wantErr != "" && strings.Contains(out.Errors[0].Error(), "secret-path"):
				t.Errorf("error shows the webhook's path: %v", out.Errors[0])
			}
		})
	}
}

func TestDedupAndRateLimit(t *testing.T) {
	srv := newServer(t)
	clk := &fakeClock{now: t0}
	n := New(t.TempDir(), WithClock(clk), WithDedupWindow(time.Hour), WithRateLimit(2, time.Minute))
	set := setWith(v1beta3.ProviderSpec{Type: "generic", Address: srv.URL}, v1beta3.AlertSpec{})
	ctx := context.Background()
	ev := func(msg string) Event { e := failedEv; e.Message = msg; return e }

	out := n.Notify(ctx, set, []Event{ev("a"), ev("a"), ev("b"), ev("c")})
	want := Outcome{Sent: 2, Deduplicated: 1, RateLimited: 1}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("first (-want +got):\n%s", diff)
	}
	clk.advance(time.Minute) // one token back; "a" still within the window
	out = n.Notify(ctx, set, []Event{ev("a"), ev("c")})
	if diff := cmp.Diff(Outcome{Sent: 1, Deduplicated: 1}, out); diff != "" {
		t.Errorf("after a minute (-want +got):\n%s", diff)
	}
	clk.advance(time.Hour) // out of the window, bucket full
	out = n.Notify(ctx, set, []Event{ev("a")})
	if diff := cmp.Diff(Outcome{Sent: 1}, out); diff != "" {
		t.Errorf("after the window (-want +got):\n%s", diff)
	}
	if got := len(srv.got()); got != 4 {
		t.Errorf("%d requests, want 4", got)
	}
}

func TestRoutes(t *testing.T) {
	policy := Event{InvolvedObject: ObjectReference{Kind: v1alpha1.ImagePolicyKind, Namespace: "apps", Name: "web"},
		Severity: "info", Reason: ReasonNewSelection, Message: "selected ghcr.io/a/web:1.2.0", Labels: map[string]string{"team": "web"}}
	src := func(kind, ns, name string, labels map[string]string) v1alpha1.CrossNamespaceObjectReference {
		return v1alpha1.CrossNamespaceObjectReference{Kind: kind, Namespace: ns, Name: name, MatchLabels: labels}
	}
	tests := map[string]struct {
		spec v1beta3.AlertSpec
		ev   Event
		want bool
	}{
		"by name":             {spec: v1beta3.AlertSpec{EventSources: []v1alpha1.CrossNamespaceObjectReference{src("ImagePolicy", "", "web", nil)}}, ev: policy, want: true},
		"other name":          {spec: v1beta3.AlertSpec{EventSources: []v1alpha1.CrossNamespaceObjectReference{src("ImagePolicy", "", "api", nil)}}, ev: policy},
		"other kind":          {spec: v1beta3.AlertSpec{EventSources: []v1alpha1.CrossNamespaceObjectReference{src("ImageUpdateAutomation", "", "*", nil)}}, ev: policy},
		"other namespace":     {spec: v1beta3.AlertSpec{EventSources: []v1alpha1.CrossNamespaceObjectReference{src("ImagePolicy", "ops", "web", nil)}}, ev: policy},
		"any namespace":       {spec: v1beta3.AlertSpec{EventSources: []v1alpha1.CrossNamespaceObjectReference{src("ImagePolicy", "*", "*", nil)}}, ev: policy, want: true},
		"labels match":        {spec: v1beta3.AlertSpec{EventSources: []v1alpha1.CrossNamespaceObjectReference{src("ImagePolicy", "", "*", map[string]string{"team": "web"})}}, ev: policy, want: true},
		"labels differ":       {spec: v1beta3.AlertSpec{EventSources: []v1alpha1.CrossNamespaceObjectReference{src("ImagePolicy", "", "*", map[string]string{"team": "api"})}}, ev: policy},
		"error severity only": {spec: v1beta3.AlertSpec{EventSeverity: "error", EventSources: []v1alpha1.CrossNamespaceObjectReference{src("ImagePolicy", "", "web", nil)}}, ev: policy},
		"excluded":            {spec: v1beta3.AlertSpec{ExclusionList: []string{`web:1\.2`}, EventSources: []v1alpha1.CrossNamespaceObjectReference{src("ImagePolicy", "", "web", nil)}}, ev: policy},
		"not included":        {spec: v1beta3.AlertSpec{InclusionList: []string{`^failed`}, EventSources: []v1alpha1.CrossNamespaceObjectReference{src("ImagePolicy", "", "web", nil)}}, ev: policy},
		"included":            {spec: v1beta3.AlertSpec{InclusionList: []string{`^selected`}, EventSources: []v1alpha1.CrossNamespaceObjectReference{src("ImagePolicy", "", "web", nil)}}, ev: policy, want: true},
		"suspended":           {spec: v1beta3.AlertSpec{Suspend: true, EventSources: []v1alpha1.CrossNamespaceObjectReference{src("ImagePolicy", "", "web", nil)}}, ev: policy},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := &config.Alert{Alert: &v1beta3.Alert{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "apps"}, Spec: tc.spec}}
			if got := Routes(a, tc.ev); got != tc.want {
				t.Errorf("Routes = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAlertMetadataAndSuspendedProvider(t *testing.T) {
	srv := newServer(t)
	n := New(t.TempDir(), WithClock(&fakeClock{now: t0}))
	set := setWith(v1beta3.ProviderSpec{Type: "generic", Address: srv.URL}, v1beta3.AlertSpec{
		Summary: "prod images", EventMetadata: map[string]string{"env": "prod", MetaRevision: "not this"},
	})
	if out := n.Notify(context.Background(), set, []Event{pushed}); out.Sent != 1 {
		t.Fatalf("outcome %+v", out)
	}
	var e Event
	if err := json.Unmarshal(srv.got()[0].Body, &e); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"env": "prod", "summary": "prod images", MetaRevision: "main@sha1:" + sha}
	if diff := cmp.Diff(want, e.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	set.Providers[0].Spec.Suspend = true
	if out := n.Notify(context.Background(), set, []Event{failedEv}); out.Sent != 0 || len(srv.got()) != 1 {
		t.Errorf("a suspended provider was sent to: %+v", out)
	}
}
