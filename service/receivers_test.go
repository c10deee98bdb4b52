package service_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the HMAC-SHA1 signatures of GitHub Enterprise and Nexus
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/registry/webhook"
	"github.com/hoist-dev/hoist/service"
)

const receiversToken = "receivers-test-token-0123456789"

// receiverService loads testdata/receivers/config.yaml into a Service and
// serves its webhooks on 127.0.0.1. The service is not run: a request's
// rescans are decided and logged ("webhook: rescanning") before its answer
// is written, so the answer is the signal that the log is complete.
func receiverService(t *testing.T, opts ...func(*service.ServiceOptions)) (*httptest.Server, *syncBuffer) {
	t.Helper()
	secrets := t.TempDir()
	if err := os.MkdirAll(filepath.Join(secrets, "hook-token"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secrets, "hook-token", "token"), []byte(receiversToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// gcr-token: the token, and the ID token's audience and email.
	if err := os.MkdirAll(filepath.Join(secrets, "gcr-token"), 0o700); err != nil {
		t.Fatal(err)
	}
	for key, v := range map[string]string{"token": receiversToken, "audience": gcrAudience, "email": gcrEmail} {
		if err := os.WriteFile(filepath.Join(secrets, "gcr-token", key), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	logger, logs := newJSONLogger()
	o := service.ServiceOptions{
		Runner:      &automation.Runner{Scanner: &automation.Scanner{}, StateDir: t.TempDir(), SecretsDir: secrets},
		ConfigPaths: []string{filepath.Join("testdata", "receivers", "config.yaml")},
		Registry:    prometheus.NewRegistry(),
		Logger:      logger,
	}
	for _, opt := range opts {
		opt(&o)
	}
	svc, err := service.NewService(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Load(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.HookHandler())
	t.Cleanup(srv.Close)
	return srv, logs
}

func newJSONLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// rescans returns the repositories of the "webhook: rescanning" lines of
// log, sorted.
func rescans(t *testing.T, log string) []string {
	t.Helper()
	var out []string
	for line := range strings.Lines(log) {
		var rec struct {
			Msg        string `json:"msg"`
			Repository string `json:"repository"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg == "webhook: rescanning" {
			out = append(out, rec.Repository)
		}
	}
	slices.Sort(out)
	return out
}

func hmacHex(newHash func() hash.Hash, key string, body []byte) string {
	mac := hmac.New(newHash, []byte(key))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "registry", "webhook", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestServiceReceivers is Flux's receiver cases (notification-controller's
// Test_handlePayload) as a table against the service: for each type, a
// request accepted, one refused, and which ImageRepositories are rescanned,
// with label selection, resources across namespaces and resourceFilter.
func TestServiceReceivers(t *testing.T) {
	google := newIDTokenIssuer(t)
	issuer := newOIDCIssuer(t)
	srv, logs := receiverService(t, func(o *service.ServiceOptions) {
		o.IDTokenKeys = google.keys
		o.ConfigPaths = append(o.ConfigPaths, oidcReceiver(t, issuer.url))
	})
	fx := func(name string) []byte { return readFixture(t, name) }
	github := fx("github-package-published.json")
	type headers func(body []byte) http.Header
	none := func([]byte) http.Header { return nil }
	with := func(kv ...string) headers {
		return func([]byte) http.Header {
			h := http.Header{}
			for i := 0; i < len(kv); i += 2 {
				h.Set(kv[i], kv[i+1])
			}
			return h
		}
	}
	ghSigned := func(event string) headers {
		return func(b []byte) http.Header {
			return http.Header{"X-Github-Event": {event}, "X-Hub-Signature-256": {"sha256=" + hmacHex(sha256.New, receiversToken, b)}}
		}
	}

	tests := map[string]struct {
		receiver    string
		body        []byte
		contentType string // default application/json
		header      headers
		wantStatus  int
		wantRescans []string
		wantBody    string // a substring of the answer, when set
	}{
		// dockerhub: the path authenticates; the payload's image selects.
		"dockerhub names api": {receiver: "dockerhub", body: []byte(`{"push_data": {"tag": "2"}, "repository": {"repo_name": "acme/api"}}`), header: none,
			wantStatus: 202, wantRescans: []string{"apps/api"}},
		"dockerhub names an image no resource has": {receiver: "dockerhub", body: fx("dockerhub.json"), header: none,
			wantStatus: 202},
		"dockerhub without repo_name: every resource": {receiver: "dockerhub", body: []byte(`{"push_data": {"tag": "2"}}`), header: none,
			wantStatus: 202, wantRescans: []string{"apps/api", "apps/web"}},
		"dockerhub not JSON": {receiver: "dockerhub", body: []byte(`repo=acme/api`), header: none, contentType: "-",
			wantStatus: 400},

		// harbor: Authorization is the token.
		"harbor": {receiver: "harbor", body: fx("harbor-push-artifact.json"), header: with("Authorization", receiversToken),
			wantStatus: 202, wantRescans: []string{"apps/harbor"}},
		"harbor null: every resource": {receiver: "harbor", body: []byte(`null`), header: with("Authorization", receiversToken),
			wantStatus: 202, wantRescans: []string{"apps/harbor", "apps/web"}},
		"harbor older form: every resource": {receiver: "harbor", body: fx("harbor-older-events.json"), header: with("Authorization", receiversToken),
			wantStatus: 202, wantRescans: []string{"apps/harbor", "apps/web"}},
		"harbor wrong token": {receiver: "harbor", body: fx("harbor-push-artifact.json"), header: with("Authorization", "nope"),
			wantStatus: 401},

		// quay.
		"quay names db": {receiver: "quay", body: []byte(`{"docker_url": "quay.io/acme/db", "updated_tags": ["1"]}`), header: none,
			wantStatus: 202, wantRescans: []string{"apps/db"}},
		"quay {}: every resource": {receiver: "quay", body: []byte(`{}`), header: none,
			wantStatus: 202, wantRescans: []string{"apps/db", "apps/web"}},

		// github: HMAC, events.
		"github package": {receiver: "github", body: github, header: ghSigned("package"),
			wantStatus: 202, wantRescans: []string{"apps/web"}},
		"github push listened for: every resource": {receiver: "github", body: fx("github-ping.json"), header: ghSigned("push"),
			wantStatus: 202, wantRescans: []string{"apps/api", "apps/web"}},
		"github ping acknowledged": {receiver: "github", body: fx("github-ping.json"), header: ghSigned("ping"),
			wantStatus: 200},
		"github release not listened for": {receiver: "github", body: fx("github-ping.json"), header: ghSigned("release"),
			wantStatus: 200},
		// Without events, such a delivery rescans every resource (see the
		// webhook package's TestHandler); with events, no event is none
		// of them.
		"github no X-GitHub-Event, events set": {receiver: "github", body: github, header: func(b []byte) http.Header {
			h := ghSigned("package")(b)
			h.Del("X-Github-Event")
			return h
		}, wantStatus: 200},
		"github SHA-1 only": {receiver: "github", body: github, header: func(b []byte) http.Header {
			return http.Header{"X-Github-Event": {"package"}, "X-Hub-Signature": {"sha1=" + hmacHex(sha1.New, receiversToken, b)}}
		}, wantStatus: 202, wantRescans: []string{"apps/web"}},
		"github SHA-1 beside a wrong SHA-256": {receiver: "github", body: github, header: func(b []byte) http.Header {
			return http.Header{"X-Github-Event": {"package"}, "X-Hub-Signature": {"sha1=" + hmacHex(sha1.New, receiversToken, b)},
				"X-Hub-Signature-256": {"sha256=" + hmacHex(sha256.New, "wrong", b)}}
		}, wantStatus: 401},
		"github unsigned": {receiver: "github", body: github, header: with("X-Github-Event", "package"),
			wantStatus: 401},

		// gitlab: X-Gitlab-Token; labels select.
		"gitlab push": {receiver: "gitlab", body: fx("gitlab-push.json"), header: with("X-Gitlab-Token", receiversToken, "X-Gitlab-Event", "Push Hook"),
			wantStatus: 202, wantRescans: []string{"apps/api", "apps/web"}},
		"gitlab event not listened for": {receiver: "gitlab", body: fx("gitlab-push.json"), header: with("X-Gitlab-Token", receiversToken, "X-Gitlab-Event", "Issue Hook"),
			wantStatus: 200},
		"gitlab wrong token": {receiver: "gitlab", body: fx("gitlab-push.json"), header: with("X-Gitlab-Token", "nope", "X-Gitlab-Event", "Push Hook"),
			wantStatus: 401},

		// bitbucket: X-Hub-Signature HMAC.
		"bitbucket": {receiver: "bitbucket", body: fx("bitbucket-push.json"), header: func(b []byte) http.Header {
			return http.Header{"X-Hub-Signature": {"sha256=" + hmacHex(sha256.New, receiversToken, b)}, "X-Event-Key": {"repo:refs_changed"}}
		}, wantStatus: 202, wantRescans: []string{"apps/db"}},
		"bitbucket unsigned": {receiver: "bitbucket", body: fx("bitbucket-push.json"), header: with("X-Event-Key", "repo:refs_changed"),
			wantStatus: 401},

		// acr: the payload's host and repository, across namespaces.
		"acr names proxy": {receiver: "acr", body: []byte(`{"action": "push", "target": {"repository": "acme/proxy", "tag": "1"}, "request": {"host": "myregistry.azurecr.io"}}`), header: none,
			wantStatus: 202, wantRescans: []string{"infra/proxy"}},
		"acr malformed": {receiver: "acr", body: []byte(`{"target": []}`), header: none,
			wantStatus: 400},

		// nexus: X-Nexus-Webhook-Signature, HMAC-SHA1; labels in another
		// namespace.
		"nexus": {receiver: "nexus", body: fx("nexus-component.json"), header: func(b []byte) http.Header {
			return http.Header{"X-Nexus-Webhook-Signature": {hmacHex(sha1.New, receiversToken, b)}}
		}, wantStatus: 202, wantRescans: []string{"infra/proxy"}},
		"nexus wrong signature": {receiver: "nexus", body: fx("nexus-component.json"), header: with("X-Nexus-Webhook-Signature", "00"),
			wantStatus: 401},

		// cdevents: labels in the receiver's namespace only.
		"cdevents": {receiver: "cdevents", body: fx("cdevents-artifact-published.json"), header: none,
			wantStatus: 202, wantRescans: []string{"apps/api"}},
		"cdevents not a CDEvent": {receiver: "cdevents", body: []byte(`{"context": {"type": "push"}}`), header: none,
			wantStatus: 400},

		// generic-hmac.
		"generic-hmac": {receiver: "generic-hmac", body: []byte(`{}`), header: func(b []byte) http.Header {
			return http.Header{"X-Signature": {"sha256=" + hmacHex(sha256.New, receiversToken, b)}}
		}, wantStatus: 202, wantRescans: []string{"apps/web"}},

		// resourceFilter.
		"filter by body": {receiver: "filtered", body: []byte(`{"name": "db"}`), header: none,
			wantStatus: 202, wantRescans: []string{"apps/db"}},
		"filter by header": {receiver: "filtered", body: []byte(`{"name": "none"}`), header: with("X-Team", "a"),
			wantStatus: 202, wantRescans: []string{"apps/api", "apps/web"}},
		"filter excludes all": {receiver: "filtered", body: []byte(`{"name": "none"}`), header: none,
			wantStatus: 202},
		"filter fails: 500, nothing rescanned": {receiver: "filtered", body: []byte(`{}`), header: none,
			wantStatus: 500, wantBody: "no such key"},

		// gcr: a Pub/Sub push whose ID token is checked against the
		// JWKS served on 127.0.0.1.
		"gcr insert": {receiver: "gcr", body: gcrPush("INSERT", "europe-docker.pkg.dev/acme/images/web:1.2.3"), header: google.bearer(nil),
			wantStatus: 202, wantRescans: []string{"apps/gar"}},
		"gcr insert by digest": {receiver: "gcr", body: gcrPush("INSERT", "europe-docker.pkg.dev/acme/images/web@sha256:"+strings.Repeat("a", 64)), header: google.bearer(nil),
			wantStatus: 202, wantRescans: []string{"apps/gar"}},
		"gcr delete ignored": {receiver: "gcr", body: gcrPush("DELETE", "europe-docker.pkg.dev/acme/images/web:1.2.3"), header: google.bearer(nil),
			wantStatus: 200},
		"gcr no data: every resource": {receiver: "gcr", body: []byte(`{"message": {}}`), header: google.bearer(nil),
			wantStatus: 202, wantRescans: []string{"apps/gar", "apps/web"}},
		"gcr no token": {receiver: "gcr", body: gcrPush("INSERT", "europe-docker.pkg.dev/acme/images/web:1"), header: none,
			wantStatus: 401},
		"gcr the path's token as bearer": {receiver: "gcr", body: gcrPush("INSERT", "europe-docker.pkg.dev/acme/images/web:1"), header: with("Authorization", "Bearer "+receiversToken),
			wantStatus: 401},
		"gcr signed by another key": {receiver: "gcr", body: gcrPush("INSERT", "europe-docker.pkg.dev/acme/images/web:1"), header: google.bearer(func(c *idClaims) { c.otherKey = true }),
			wantStatus: 401},
		"gcr unknown key id": {receiver: "gcr", body: gcrPush("INSERT", "europe-docker.pkg.dev/acme/images/web:1"), header: google.bearer(func(c *idClaims) { c.kid = "rotated" }),
			wantStatus: 401},
		"gcr expired": {receiver: "gcr", body: gcrPush("INSERT", "europe-docker.pkg.dev/acme/images/web:1"), header: google.bearer(func(c *idClaims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Hour)) }),
			wantStatus: 401},
		"gcr wrong audience": {receiver: "gcr", body: gcrPush("INSERT", "europe-docker.pkg.dev/acme/images/web:1"), header: google.bearer(func(c *idClaims) { c.Audience = jwt.Audience{"https://elsewhere.example"} }),
			wantStatus: 401},
		"gcr wrong issuer": {receiver: "gcr", body: gcrPush("INSERT", "europe-docker.pkg.dev/acme/images/web:1"), header: google.bearer(func(c *idClaims) { c.Issuer = "https://token.actions.githubusercontent.com" }),
			wantStatus: 401},
		"gcr wrong email": {receiver: "gcr", body: gcrPush("INSERT", "europe-docker.pkg.dev/acme/images/web:1"), header: google.bearer(func(c *idClaims) { c.Email = "intruder@acme.iam.gserviceaccount.com" }),
			wantStatus: 401},
		"gcr email not verified": {receiver: "gcr", body: gcrPush("INSERT", "europe-docker.pkg.dev/acme/images/web:1"), header: google.bearer(func(c *idClaims) { c.EmailVerified = false }),
			wantStatus: 401},

		// generic-oidc: Flux's TestValidateGenericOIDC cases. The path has
		// no token; the bearer ID token is verified against the issuer's
		// discovery document and JWKS on 127.0.0.1, then its claims
		// against the provider's validations.
		"generic-oidc": {receiver: "generic-oidc", body: []byte(`{}`), header: issuer.bearer(nil),
			wantStatus: 202, wantRescans: []string{"apps/api", "apps/web"}},
		"generic-oidc resourceFilter": {receiver: "generic-oidc", body: []byte(`{"only": "api"}`), header: issuer.bearer(nil),
			wantStatus: 202, wantRescans: []string{"apps/api"}},
		"generic-oidc missing token": {receiver: "generic-oidc", body: []byte(`{}`), header: none,
			wantStatus: 401},
		"generic-oidc malformed token": {receiver: "generic-oidc", body: []byte(`{}`), header: with("Authorization", "Bearer not-a-jwt"),
			wantStatus: 401},
		"generic-oidc unknown issuer": {receiver: "generic-oidc", body: []byte(`{}`), header: issuer.bearer(func(c map[string]any) { c["iss"] = "https://token.actions.githubusercontent.com" }),
			wantStatus: 401},
		"generic-oidc wrong audience": {receiver: "generic-oidc", body: []byte(`{}`), header: issuer.bearer(func(c map[string]any) { c["aud"] = "notification-controller" }),
			wantStatus: 401},
		"generic-oidc expired": {receiver: "generic-oidc", body: []byte(`{}`), header: issuer.bearer(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }),
			wantStatus: 401},
		"generic-oidc bad signature": {receiver: "generic-oidc", body: []byte(`{}`), header: issuer.bearer(func(c map[string]any) { c["-key"] = true }),
			wantStatus: 401},
		"generic-oidc failed validations": {receiver: "generic-oidc", body: []byte(`{}`), header: issuer.bearer(func(c map[string]any) { c["repository"], c["ref"] = "evil/repo", "refs/heads/x" }),
			wantStatus: 401},

		// Deliberate differences from Flux.
		"GET":      {receiver: "dockerhub", header: none, wantStatus: 405},
		"not JSON": {receiver: "quay", body: []byte(`{}`), contentType: "text/plain", header: none, wantStatus: 415},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			method := http.MethodPost
			if name == "GET" {
				method = http.MethodGet
			}
			token := receiversToken
			if tc.receiver == "generic-oidc" {
				token = "" // as in Flux: the path of a receiver without a secret
			}
			req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+webhook.Path(token, tc.receiver, "apps"), bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header(tc.body) {
				req.Header[k] = v
			}
			switch tc.contentType {
			case "":
				req.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				req.Header.Set("Content-Type", tc.contentType)
			}
			before := len(logs.String())
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d %q, want %d", resp.StatusCode, answer, tc.wantStatus)
			}
			if tc.wantBody != "" && !strings.Contains(string(answer), tc.wantBody) {
				t.Errorf("answer %q, want it to contain %q", answer, tc.wantBody)
			}
			if diff := cmp.Diff(tc.wantRescans, rescans(t, logs.String()[before:])); diff != "" {
				t.Errorf("rescanned (-want +got):\n%s", diff)
			}
		})
	}
	if strings.Contains(logs.String(), receiversToken) {
		t.Error("the token reached the log")
	}
}

// TestServiceWebhookMaxBody: the body limit is the service's option
// (--webhook-max-body); a body over it is answered 413.
func TestServiceWebhookMaxBody(t *testing.T) {
	srv, logs := receiverService(t, func(o *service.ServiceOptions) { o.WebhookMaxBody = 64 })
	for _, tc := range []struct {
		size int
		want int
	}{{64, 202}, {65, 413}} {
		body := append([]byte(`{"pad": "`), bytes.Repeat([]byte("x"), tc.size-len(`{"pad": ""}`))...)
		body = append(body, `"}`...)
		resp, err := srv.Client().Post(srv.URL+webhook.Path(receiversToken, "quay", "apps"), "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%d bytes: status %d, want %d", len(body), resp.StatusCode, tc.want)
		}
	}
	if got := rescans(t, logs.String()); !slices.Equal(got, []string{"apps/db", "apps/web"}) {
		t.Errorf("rescanned %q, want apps/db and apps/web once", got)
	}
}
