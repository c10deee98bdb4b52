package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testReceivers are served by every handler test, one per type and a few
// variants. Tokens are distinct so that a test can look for them in logs.
func testReceivers() []Receiver {
	r := func(name, typ string) Receiver {
		return Receiver{Name: name, Namespace: "apps", Type: typ, Token: "tok-" + name + "-0123456789abcdef",
			Resources: []string{"apps/web"}}
	}
	filtered := r("github-filtered", TypeGitHub)
	filtered.Events = []string{"Registry_Package"}
	suspended := r("suspended", TypeDockerHub)
	suspended.Suspended = true
	forge := r("github-push", TypeGitHub)
	forge.Events = []string{"push", "ping"}
	gitlab := r("gitlab-filtered", TypeGitLab)
	gitlab.Events = []string{"Push Hook"}
	bitbucket := r("bitbucket-filtered", TypeBitbucket)
	bitbucket.Events = []string{"repo:refs_changed"}
	cdevents := r("cdevents-filtered", TypeCDEvents)
	cdevents.Events = []string{"dev.cdevents.artifact.published.0.2.0"}
	return []Receiver{
		r("hub", TypeDockerHub), r("harbor", TypeHarbor), r("quay", TypeQuay), r("github", TypeGitHub),
		filtered, r("generic", TypeGeneric), r("generic-hmac", TypeGenericHMAC), r("distribution", TypeDistribution),
		suspended, forge, r("gitlab", TypeGitLab), gitlab, r("bitbucket", TypeBitbucket), bitbucket,
		r("acr", TypeACR), r("nexus", TypeNexus), r("cdevents", TypeCDEvents), cdevents,
		r("broken", TypeGeneric),
	}
}

// call is one call of the trigger.
type call struct {
	Receiver string
	Images   []string
}

// observed is one call of the observer.
type observed struct {
	Receiver, Outcome string
}

// harness is a Handler behind a real HTTP server on 127.0.0.1, recording
// what it triggers and observes.
type harness struct {
	srv       *httptest.Server
	receivers map[string]Receiver
	logs      *syncBuffer

	mu       sync.Mutex
	calls    []call
	observed []observed
}

func newHarness(t testing.TB, opts ...Option) *harness {
	t.Helper()
	h := &harness{receivers: make(map[string]Receiver), logs: &syncBuffer{}}
	rs := testReceivers()
	for _, r := range rs {
		h.receivers[r.Name] = r
	}
	logger := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts = append([]Option{
		WithLogger(logger),
		WithObserver(func(receiver, outcome string) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.observed = append(h.observed, observed{receiver, outcome})
		}),
	}, opts...)
	handler, err := NewHandler(rs, func(ctx context.Context, r Receiver, req Request) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.calls = append(h.calls, call{r.String(), req.Images})
		if r.Name == "broken" {
			return errors.New(`ImageRepository "gone" not found in namespace "apps"`)
		}
		return nil
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(handler)
	t.Cleanup(h.srv.Close)
	return h
}

// take returns and forgets what was triggered and observed.
func (h *harness) take() ([]call, []observed) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, o := h.calls, h.observed
	h.calls, h.observed = nil, nil
	return c, o
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// request is one request to the harness.
type request struct {
	receiver    string // name in testReceivers; "" with path
	path        string // overrides the receiver's path
	method      string // default POST
	body        []byte
	contentType string // default application/json; "-" for none
	header      func(r Receiver, body []byte) http.Header
	chunked     bool // hide the length, so that the body is sent chunked
}

func (h *harness) do(t testing.TB, rq request) (int, string) {
	t.Helper()
	rc := h.receivers[rq.receiver]
	path := rc.Path()
	if rq.path != "" {
		path = rq.path
	}
	method := rq.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader = bytes.NewReader(rq.body)
	if rq.chunked {
		body = io.MultiReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	switch rq.contentType {
	case "":
		req.Header.Set("Content-Type", "application/json")
	case "-":
	default:
		req.Header.Set("Content-Type", rq.contentType)
	}
	if rq.header != nil {
		for k, v := range rq.header(rc, rq.body) {
			req.Header[k] = v
		}
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	msg, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(msg)
}

func sign(newHash func() hash.Hash, key string, body []byte) string {
	mac := hmac.New(newHash, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// Header builders.
func githubHeaders(event string) func(Receiver, []byte) http.Header {
	return func(r Receiver, body []byte) http.Header {
		return http.Header{"X-Github-Event": {event}, "X-Hub-Signature-256": {"sha256=" + sign(sha256.New, r.Token, body)}}
	}
}

func hmacHeader(alg string, newHash func() hash.Hash) func(Receiver, []byte) http.Header {
	return func(r Receiver, body []byte) http.Header {
		return http.Header{"X-Signature": {alg + "=" + sign(newHash, r.Token, body)}}
	}
}

func authHeader(prefix string) func(Receiver, []byte) http.Header {
	return func(r Receiver, body []byte) http.Header {
		return http.Header{"Authorization": {prefix + r.Token}}
	}
}

func fixedHeader(k, v string) func(Receiver, []byte) http.Header {
	return func(Receiver, []byte) http.Header { return http.Header{k: {v}} }
}

func TestHandler(t *testing.T) {
	h := newHarness(t, WithBodyLimit(64<<10))
	fixture := func(name string) []byte { return readTestdata(t, name) }
	big := append(append([]byte(`{"pad": "`), bytes.Repeat([]byte("x"), 64<<10)...), `"}`...)
	tamper := func(b []byte) []byte { return bytes.Replace(b, []byte("acme"), []byte("evil"), 1) }
	github := fixture("github-package-published.json")
	githubForm := []byte("payload=" + url.QueryEscape(string(github)))

	tests := map[string]struct {
		rq          request
		wantStatus  int
		wantOutcome string
		wantImages  []string // triggered with these; nil and !wantAll: not triggered
		wantAll     bool     // triggered with nil images
	}{
		// The fixtures, accepted.
		"dockerhub": {rq: request{receiver: "hub", body: fixture("dockerhub.json")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"docker.io/acme/web"}},
		"dockerhub official": {rq: request{receiver: "hub", body: fixture("dockerhub-official.json")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"docker.io/library/nginx"}},
		"harbor": {rq: request{receiver: "harbor", body: fixture("harbor-push-artifact.json"), header: authHeader("")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"harbor.example.com/platform/web"}},
		"harbor bearer": {rq: request{receiver: "harbor", body: fixture("harbor-push-artifact.json"), header: authHeader("Bearer ")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"harbor.example.com/platform/web"}},
		"quay": {rq: request{receiver: "quay", body: fixture("quay-repo-push.json")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"quay.io/acme/web"}},
		"github": {rq: request{receiver: "github", body: github, header: githubHeaders("package")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"ghcr.io/acme/web"}},
		"github form": {rq: request{receiver: "github", body: githubForm, contentType: "application/x-www-form-urlencoded", header: githubHeaders("package")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"ghcr.io/acme/web"}},
		"github registry_package": {rq: request{receiver: "github", body: fixture("github-registry-package.json"), header: githubHeaders("registry_package")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"ghcr.io/acme-corp/web"}},
		"github events filter passes": {rq: request{receiver: "github-filtered", body: fixture("github-registry-package.json"), header: githubHeaders("registry_package")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"ghcr.io/acme-corp/web"}},
		"generic": {rq: request{receiver: "generic", contentType: "-"},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"generic with any body": {rq: request{receiver: "generic", body: []byte("hello"), contentType: "text/plain"},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"generic-hmac sha256": {rq: request{receiver: "generic-hmac", body: []byte(`{"any": "thing"}`), header: hmacHeader("sha256", sha256.New)},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"generic-hmac sha512": {rq: request{receiver: "generic-hmac", body: []byte(`x`), header: hmacHeader("sha512", sha512.New)},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"generic-hmac sha1": {rq: request{receiver: "generic-hmac", body: []byte(`x`), header: hmacHeader("sha1", sha1.New)},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"generic-hmac empty body": {rq: request{receiver: "generic-hmac", header: hmacHeader("sha256", sha256.New)},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"distribution": {rq: request{receiver: "distribution", body: fixture("distribution-events.json"),
			contentType: "application/vnd.docker.distribution.events.v2+json", header: authHeader("Bearer ")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"registry.example.com/acme/web"}},
		"distribution raw token": {rq: request{receiver: "distribution", body: fixture("distribution-events.json"), header: authHeader("")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"registry.example.com/acme/web"}},
		"distribution bearer case": {rq: request{receiver: "distribution", body: fixture("distribution-events.json"), header: authHeader("bearer  ")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"registry.example.com/acme/web"}},
		"json charset": {rq: request{receiver: "hub", body: fixture("dockerhub.json"), contentType: "application/json; charset=utf-8"},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"docker.io/acme/web"}},
		"no content type": {rq: request{receiver: "quay", body: fixture("quay-repo-push.json"), contentType: "-"},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"quay.io/acme/web"}},
		"chunked": {rq: request{receiver: "hub", body: fixture("dockerhub.json"), chunked: true},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"docker.io/acme/web"}},

		// Payloads that name no image: every resource (Flux triggers them
		// whatever the body).
		"dockerhub no repository": {rq: request{receiver: "hub", body: []byte(`{"push_data": {"tag": "1"}}`)},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"dockerhub null": {rq: request{receiver: "hub", body: []byte(`null`)},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"harbor older form": {rq: request{receiver: "harbor", body: fixture("harbor-older-events.json"), header: authHeader("")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"harbor null": {rq: request{receiver: "harbor", body: []byte(`null`), header: authHeader("")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"quay empty object": {rq: request{receiver: "quay", body: []byte(`{}`)},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"github no event header": {rq: request{receiver: "github", body: github, header: func(r Receiver, b []byte) http.Header {
			h := githubHeaders("package")(r, b)
			h.Del("X-Github-Event")
			return h
		}}, wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"github sha1 signature only": {rq: request{receiver: "github", body: github, header: func(r Receiver, b []byte) http.Header {
			return http.Header{"X-Github-Event": {"package"}, "X-Hub-Signature": {"sha1=" + sign(sha1.New, r.Token, b)}}
		}}, wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"ghcr.io/acme/web"}},
		"github push listened for": {rq: request{receiver: "github-push", body: fixture("github-ping.json"), header: githubHeaders("push")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"gitlab": {rq: request{receiver: "gitlab", body: fixture("gitlab-push.json"), header: func(r Receiver, _ []byte) http.Header {
			return http.Header{"X-Gitlab-Token": {r.Token}, "X-Gitlab-Event": {"Push Hook"}}
		}}, wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"gitlab event listened for": {rq: request{receiver: "gitlab-filtered", body: fixture("gitlab-push.json"), header: func(r Receiver, _ []byte) http.Header {
			return http.Header{"X-Gitlab-Token": {r.Token}, "X-Gitlab-Event": {"push hook"}}
		}}, wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"bitbucket sha256": {rq: request{receiver: "bitbucket", body: fixture("bitbucket-push.json"), header: func(r Receiver, b []byte) http.Header {
			return http.Header{"X-Hub-Signature": {"sha256=" + sign(sha256.New, r.Token, b)}, "X-Event-Key": {"repo:refs_changed"}}
		}}, wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"bitbucket event listened for": {rq: request{receiver: "bitbucket-filtered", body: fixture("bitbucket-push.json"), header: func(r Receiver, b []byte) http.Header {
			return http.Header{"X-Hub-Signature": {"sha256=" + sign(sha256.New, r.Token, b)}, "X-Event-Key": {"repo:refs_changed"}}
		}}, wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"acr": {rq: request{receiver: "acr", body: fixture("acr-push.json")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"myregistry.azurecr.io/acme/web"}},
		"nexus": {rq: request{receiver: "nexus", body: fixture("nexus-component.json"), header: func(r Receiver, b []byte) http.Header {
			return http.Header{"X-Nexus-Webhook-Signature": {sign(sha1.New, r.Token, b)}}
		}}, wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"cdevents structured": {rq: request{receiver: "cdevents", body: fixture("cdevents-artifact-published.json")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},
		"cdevents event listened for": {rq: request{receiver: "cdevents-filtered", body: fixture("cdevents-artifact-published.json"),
			header: fixedHeader("Ce-Type", "dev.cdevents.artifact.published.0.2.0")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantAll: true},

		// The trigger fails (a resource that does not exist): 500.
		"trigger fails": {rq: request{receiver: "broken", body: []byte(`{}`)},
			wantStatus: 500, wantOutcome: OutcomeFailed, wantAll: true},

		// Valid, nothing to rescan.
		"github ping to a push receiver": {rq: request{receiver: "github-filtered", body: fixture("github-ping.json"), header: githubHeaders("ping")},
			wantStatus: 200, wantOutcome: OutcomeIgnored},
		"github ping listened for": {rq: request{receiver: "github-push", body: fixture("github-ping.json"), header: githubHeaders("ping")},
			wantStatus: 200, wantOutcome: OutcomeIgnored},
		"gitlab event not listened for": {rq: request{receiver: "gitlab-filtered", body: fixture("gitlab-push.json"), header: func(r Receiver, _ []byte) http.Header {
			return http.Header{"X-Gitlab-Token": {r.Token}, "X-Gitlab-Event": {"Tag Push Hook"}}
		}}, wantStatus: 200, wantOutcome: OutcomeIgnored},
		"bitbucket event not listened for": {rq: request{receiver: "bitbucket-filtered", body: fixture("bitbucket-push.json"), header: func(r Receiver, b []byte) http.Header {
			return http.Header{"X-Hub-Signature": {"sha256=" + sign(sha256.New, r.Token, b)}, "X-Event-Key": {"pr:opened"}}
		}}, wantStatus: 200, wantOutcome: OutcomeIgnored},
		"cdevents event not listened for": {rq: request{receiver: "cdevents-filtered", body: fixture("cdevents-artifact-published.json"),
			header: fixedHeader("Ce-Type", "dev.cdevents.build.finished.0.2.0")},
			wantStatus: 200, wantOutcome: OutcomeIgnored},
		"acr delete": {rq: request{receiver: "acr", body: []byte(`{"action": "delete", "target": {"repository": "a"}, "request": {"host": "r.azurecr.io"}}`)},
			wantStatus: 200, wantOutcome: OutcomeIgnored},
		"github ping": {rq: request{receiver: "github", body: fixture("github-ping.json"), header: githubHeaders("ping")},
			wantStatus: 200, wantOutcome: OutcomeIgnored},
		"github untagged": {rq: request{receiver: "github", body: fixture("github-untagged.json"), header: githubHeaders("package")},
			wantStatus: 200, wantOutcome: OutcomeIgnored},
		"github event not in events": {rq: request{receiver: "github-filtered", body: github, header: githubHeaders("package")},
			wantStatus: 200, wantOutcome: OutcomeIgnored},
		"harbor delete": {rq: request{receiver: "harbor", body: fixture("harbor-delete-artifact.json"), header: authHeader("")},
			wantStatus: 200, wantOutcome: OutcomeIgnored},
		"harbor untagged": {rq: request{receiver: "harbor", body: fixture("harbor-untagged.json"), header: authHeader("")},
			wantStatus: 200, wantOutcome: OutcomeIgnored},
		"distribution blobs": {rq: request{receiver: "distribution", body: fixture("distribution-blobs-only.json"), header: authHeader("Bearer ")},
			wantStatus: 200, wantOutcome: OutcomeIgnored},

		// Unauthenticated.
		"github bad signature": {rq: request{receiver: "github", body: github, header: func(r Receiver, b []byte) http.Header {
			return githubHeaders("package")(Receiver{Token: "wrong"}, b)
		}}, wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"github tampered body": {rq: request{receiver: "github", body: tamper(github), header: func(r Receiver, b []byte) http.Header {
			return githubHeaders("package")(r, github)
		}}, wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"github missing signature": {rq: request{receiver: "github", body: github, header: fixedHeader("X-Github-Event", "package")},
			wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"github sha1 beside a wrong sha256": {rq: request{receiver: "github", body: github, header: func(r Receiver, b []byte) http.Header {
			return http.Header{"X-Github-Event": {"package"}, "X-Hub-Signature": {"sha1=" + sign(sha1.New, r.Token, b)},
				"X-Hub-Signature-256": {"sha256=" + sign(sha256.New, "wrong", b)}}
		}}, wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"github sha1 wrong": {rq: request{receiver: "github", body: github, header: func(r Receiver, b []byte) http.Header {
			return http.Header{"X-Github-Event": {"package"}, "X-Hub-Signature": {"sha1=" + sign(sha1.New, "wrong", b)}}
		}}, wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"github sha256 in sha1 header": {rq: request{receiver: "github", body: github, header: func(r Receiver, b []byte) http.Header {
			return http.Header{"X-Github-Event": {"package"}, "X-Hub-Signature": {"sha256=" + sign(sha256.New, r.Token, b)}}
		}}, wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"gitlab wrong token": {rq: request{receiver: "gitlab", body: fixture("gitlab-push.json"), header: fixedHeader("X-Gitlab-Token", "wrong")},
			wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"gitlab missing token": {rq: request{receiver: "gitlab", body: fixture("gitlab-push.json")},
			wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"bitbucket missing signature": {rq: request{receiver: "bitbucket", body: fixture("bitbucket-push.json")},
			wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"bitbucket wrong signature": {rq: request{receiver: "bitbucket", body: fixture("bitbucket-push.json"), header: func(r Receiver, b []byte) http.Header {
			return http.Header{"X-Hub-Signature": {"sha256=" + sign(sha256.New, "wrong", b)}}
		}}, wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"nexus missing signature": {rq: request{receiver: "nexus", body: fixture("nexus-component.json")},
			wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"nexus sha256 signature": {rq: request{receiver: "nexus", body: fixture("nexus-component.json"), header: func(r Receiver, b []byte) http.Header {
			return http.Header{"X-Nexus-Webhook-Signature": {sign(sha256.New, r.Token, b)}}
		}}, wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"nexus wrong signature": {rq: request{receiver: "nexus", body: fixture("nexus-component.json"), header: func(r Receiver, b []byte) http.Header {
			return http.Header{"X-Nexus-Webhook-Signature": {sign(sha1.New, "wrong", b)}}
		}}, wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"github sha1 in sha256 header": {rq: request{receiver: "github", body: github, header: func(r Receiver, b []byte) http.Header {
			return http.Header{"X-Github-Event": {"package"}, "X-Hub-Signature-256": {"sha1=" + sign(sha1.New, r.Token, b)}}
		}}, wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"github signature not hex": {rq: request{receiver: "github", body: github, header: fixedHeader("X-Hub-Signature-256", "sha256=zz")},
			wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"github signature no prefix": {rq: request{receiver: "github", body: github, header: func(r Receiver, b []byte) http.Header {
			return http.Header{"X-Github-Event": {"package"}, "X-Hub-Signature-256": {sign(sha256.New, r.Token, b)}}
		}}, wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"generic-hmac missing": {rq: request{receiver: "generic-hmac", body: []byte("x")},
			wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"generic-hmac md5": {rq: request{receiver: "generic-hmac", body: []byte("x"), header: fixedHeader("X-Signature", "md5=00")},
			wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"generic-hmac other key": {rq: request{receiver: "generic-hmac", body: []byte("x"), header: func(r Receiver, b []byte) http.Header {
			return hmacHeader("sha256", sha256.New)(Receiver{Token: r.Token + "x"}, b)
		}}, wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"harbor missing authorization": {rq: request{receiver: "harbor", body: fixture("harbor-push-artifact.json")},
			wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"harbor wrong authorization": {rq: request{receiver: "harbor", body: fixture("harbor-push-artifact.json"), header: fixedHeader("Authorization", "nope")},
			wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"harbor basic scheme": {rq: request{receiver: "harbor", body: fixture("harbor-push-artifact.json"), header: authHeader("Basic ")},
			wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"distribution missing authorization": {rq: request{receiver: "distribution", body: fixture("distribution-events.json")},
			wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"distribution token prefix": {rq: request{receiver: "distribution", body: fixture("distribution-events.json"), header: func(r Receiver, _ []byte) http.Header {
			return http.Header{"Authorization": {"Bearer " + r.Token[:len(r.Token)-1]}}
		}}, wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		"another receiver's token": {rq: request{receiver: "harbor", body: fixture("harbor-push-artifact.json"), header: func(Receiver, []byte) http.Header {
			return http.Header{"Authorization": {testReceivers()[0].Token}}
		}}, wantStatus: 401, wantOutcome: OutcomeUnauthorized},
		// A request unauthenticated and too large is refused for its
		// authentication, without reading the body.
		"harbor unauthenticated oversized": {rq: request{receiver: "harbor", body: big},
			wantStatus: 401, wantOutcome: OutcomeUnauthorized},

		// Too large.
		"dockerhub oversized": {rq: request{receiver: "hub", body: big},
			wantStatus: 413, wantOutcome: OutcomeTooLarge},
		"dockerhub oversized chunked": {rq: request{receiver: "hub", body: big, chunked: true},
			wantStatus: 413, wantOutcome: OutcomeTooLarge},
		"github oversized signed": {rq: request{receiver: "github", body: big, header: githubHeaders("package")},
			wantStatus: 413, wantOutcome: OutcomeTooLarge},
		"generic oversized": {rq: request{receiver: "generic", body: big, chunked: true},
			wantStatus: 413, wantOutcome: OutcomeTooLarge},
		"harbor oversized": {rq: request{receiver: "harbor", body: big, header: authHeader("")},
			wantStatus: 413, wantOutcome: OutcomeTooLarge},

		// Wrong content type.
		"dockerhub form": {rq: request{receiver: "hub", body: fixture("dockerhub.json"), contentType: "application/x-www-form-urlencoded"},
			wantStatus: 415, wantOutcome: OutcomeBadMediaType},
		"quay text": {rq: request{receiver: "quay", body: fixture("quay-repo-push.json"), contentType: "text/plain"},
			wantStatus: 415, wantOutcome: OutcomeBadMediaType},
		"github xml": {rq: request{receiver: "github", body: github, contentType: "application/xml", header: githubHeaders("package")},
			wantStatus: 415, wantOutcome: OutcomeBadMediaType},
		"distribution garbage type": {rq: request{receiver: "distribution", body: fixture("distribution-events.json"), contentType: ";;", header: authHeader("Bearer ")},
			wantStatus: 415, wantOutcome: OutcomeBadMediaType},

		// Malformed.
		"dockerhub malformed": {rq: request{receiver: "hub", body: []byte(`{"repository": `)},
			wantStatus: 400, wantOutcome: OutcomeMalformed},
		"dockerhub empty body": {rq: request{receiver: "hub"},
			wantStatus: 400, wantOutcome: OutcomeMalformed},
		"cdevents not a cdevent": {rq: request{receiver: "cdevents", body: []byte(`{"context": {"type": "push"}}`)},
			wantStatus: 400, wantOutcome: OutcomeMalformed},
		"acr malformed": {rq: request{receiver: "acr", body: []byte(`{"target": 1}`)},
			wantStatus: 400, wantOutcome: OutcomeMalformed},
		"quay malformed": {rq: request{receiver: "quay", body: []byte(`[]`)},
			wantStatus: 400, wantOutcome: OutcomeMalformed},
		"harbor malformed": {rq: request{receiver: "harbor", body: []byte(`{"type": 1}`), header: authHeader("")},
			wantStatus: 400, wantOutcome: OutcomeMalformed},
		"github malformed signed": {rq: request{receiver: "github", body: []byte(`{"action":`), header: githubHeaders("package")},
			wantStatus: 400, wantOutcome: OutcomeMalformed},

		"distribution malformed": {rq: request{receiver: "distribution", body: []byte(`{"events": "push"}`), header: authHeader("Bearer ")},
			wantStatus: 400, wantOutcome: OutcomeMalformed},

		// Routing.
		"unknown path": {rq: request{path: Path("guess", "hub", "apps"), body: fixture("dockerhub.json")},
			wantStatus: 404, wantOutcome: OutcomeNotFound},
		"path in upper case": {rq: request{path: strings.ToUpper(testReceivers()[0].Path()), body: fixture("dockerhub.json")},
			wantStatus: 404, wantOutcome: OutcomeNotFound},
		"path with trailing slash": {rq: request{path: testReceivers()[0].Path() + "/", body: fixture("dockerhub.json")},
			wantStatus: 404, wantOutcome: OutcomeNotFound},
		"prefix only": {rq: request{path: "/hook/", body: fixture("dockerhub.json")},
			wantStatus: 404, wantOutcome: OutcomeNotFound},
		"root": {rq: request{path: "/", body: fixture("dockerhub.json")},
			wantStatus: 404, wantOutcome: OutcomeNotFound},
		"query ignored": {rq: request{receiver: "hub", path: testReceivers()[0].Path() + "?x=1", body: fixture("dockerhub.json")},
			wantStatus: 202, wantOutcome: OutcomeAccepted, wantImages: []string{"docker.io/acme/web"}},
		"GET": {rq: request{receiver: "generic", method: http.MethodGet},
			wantStatus: 405, wantOutcome: OutcomeBadMethod},
		"PUT": {rq: request{receiver: "hub", method: http.MethodPut, body: fixture("dockerhub.json")},
			wantStatus: 405, wantOutcome: OutcomeBadMethod},
		"suspended": {rq: request{receiver: "suspended", body: fixture("dockerhub.json")},
			wantStatus: 503, wantOutcome: OutcomeSuspended},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h.take()
			status, msg := h.do(t, tc.rq)
			if status != tc.wantStatus {
				t.Errorf("status %d %q, want %d", status, msg, tc.wantStatus)
			}
			calls, obs := h.take()
			id := "apps/" + tc.rq.receiver
			if tc.wantOutcome == OutcomeNotFound {
				id = ""
			}
			if diff := cmp.Diff([]observed{{id, tc.wantOutcome}}, obs); diff != "" {
				t.Errorf("observed (-want +got):\n%s", diff)
			}
			var want []call
			if tc.wantImages != nil || tc.wantAll {
				want = []call{{id, tc.wantImages}}
			}
			if diff := cmp.Diff(want, calls); diff != "" {
				t.Errorf("triggered (-want +got):\n%s", diff)
			}
		})
	}

	// Nothing secret reached the log.
	logs := h.logs.String()
	for _, r := range testReceivers() {
		for _, secret := range []string{r.Token, strings.TrimPrefix(r.Path(), PathPrefix)} {
			if strings.Contains(logs, secret) {
				t.Errorf("the log shows a secret of receiver %s:\n%s", r, logs)
			}
		}
	}
	for _, sig := range []string{sign(sha256.New, h.receivers["github"].Token, github), "sha256="} {
		if strings.Contains(logs, sig) {
			t.Errorf("the log shows a signature:\n%s", logs)
		}
	}
}

// TestHandlerUnwatchedRepository: a valid payload naming a repository that
// none of the receiver's resources watches is accepted, and the caller's
// selection (Selects) rescans nothing; one naming a watched repository
// rescans that resource only.
func TestHandlerUnwatchedRepository(t *testing.T) {
	images := map[string]string{ // ImageRepository NAMESPACE/NAME -> spec.image
		"apps/web":   "index.docker.io/acme/web",
		"apps/api":   "ghcr.io/acme/api",
		"apps/nginx": "nginx",
	}
	rc := Receiver{Name: "hub", Namespace: "apps", Type: TypeDockerHub, Token: "t0k3n",
		Resources: []string{"apps/api", "apps/nginx", "apps/web"}}
	var mu sync.Mutex
	var rescans []string
	h, err := NewHandler([]Receiver{rc}, func(ctx context.Context, r Receiver, req Request) error {
		mu.Lock()
		defer mu.Unlock()
		for _, res := range r.Resources {
			if Selects(req.Images, images[res]) {
				rescans = append(rescans, res)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	tests := map[string]struct {
		repoName string
		want     []string
	}{
		"unwatched":             {"acme/unwatched", nil},
		"same name other owner": {"other/web", nil},
		"watched":               {"acme/web", []string{"apps/web"}},
		"official":              {"library/nginx", []string{"apps/nginx"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			mu.Lock()
			rescans = nil
			mu.Unlock()
			body := `{"push_data": {"tag": "1.0.0"}, "repository": {"repo_name": "` + tc.repoName + `"}}`
			resp, err := srv.Client().Post(srv.URL+rc.Path(), "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("status %d, want 202", resp.StatusCode)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(tc.want, rescans); diff != "" {
				t.Errorf("rescans (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHandlerConcurrent: many requests at once, to several receivers, under
// -race.
func TestHandlerConcurrent(t *testing.T) {
	h := newHarness(t)
	hub := readTestdata(t, "dockerhub.json")
	github := readTestdata(t, "github-package-published.json")
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			rq := request{receiver: "hub", body: hub}
			if i%2 == 1 {
				rq = request{receiver: "github", body: github, header: githubHeaders("package")}
			}
			if status, msg := h.do(t, rq); status != http.StatusAccepted {
				t.Errorf("status %d %q", status, msg)
			}
		})
	}
	wg.Wait()
	calls, obs := h.take()
	if len(calls) != 40 || len(obs) != 40 {
		t.Errorf("%d calls and %d observations, want 40 each", len(calls), len(obs))
	}
	n := 0
	for _, c := range calls {
		if slices.Equal(c.Images, []string{"ghcr.io/acme/web"}) {
			n++
		}
	}
	if n != 20 {
		t.Errorf("%d calls for ghcr.io/acme/web, want 20", n)
	}
}

// TestHandlerLogLevels: accepted requests log at Info, refusals at Warn,
// the rest at Debug only.
func TestHandlerLogLevels(t *testing.T) {
	var buf syncBuffer
	rc := Receiver{Name: "hub", Namespace: "apps", Type: TypeDockerHub, Token: "t0k3n"}
	h, err := NewHandler([]Receiver{rc}, func(context.Context, Receiver, Request) error { return nil },
		WithLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	post := func(path, body string) {
		resp, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	post(rc.Path(), string(readTestdata(t, "dockerhub.json")))
	post(rc.Path(), "{")
	post("/hook/nothing", "{}")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(lines), buf.String())
	}
	for i, want := range []string{"level=INFO", "level=WARN"} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], "receiver=apps/hub") {
			t.Errorf("line %d = %q, want %s and receiver=apps/hub", i, lines[i], want)
		}
	}
	if !strings.Contains(lines[0], "images=[docker.io/acme/web]") || !strings.Contains(lines[0], "tags=[1.4.2]") {
		t.Errorf("line %q lacks the images and tags", lines[0])
	}
}
