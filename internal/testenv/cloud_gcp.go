package testenv

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FakeGoogleFederation answers as Google's Security Token Service
// (POST /v1/token: an OAuth 2.0 token exchange, RFC 8693, of a workload's
// JWT for a federated access token) and the IAM Service Account Credentials
// API (POST /v1/projects/-/serviceAccounts/EMAIL:generateAccessToken: the
// federated token impersonates a Google service account), per their
// published API references, on one server: point both base URLs at URL.
// It checks the exchange's audience, and asks Subject whether a workload's
// token is good (the pool's trust); ServiceAccount is the one account that
// may be impersonated, by the subjects Impersonators allows.
type FakeGoogleFederation struct {
	// URL is "http://127.0.0.1:PORT".
	URL string
	// Audience is the exchange's audience the pool accepts: a workload
	// identity provider's (//iam.googleapis.com/projects/...) or GKE's
	// (identitynamespace:POOL:CLUSTER).
	Audience string
	// Subject reports the subject of a workload's token, and whether the
	// pool trusts it. Required.
	Subject func(token string) (string, bool)
	// ServiceAccount is the Google service account's email.
	ServiceAccount string
	// Impersonators reports whether a subject holds
	// roles/iam.workloadIdentityUser on ServiceAccount; nil: every subject.
	Impersonators func(subject string) bool
	// Federated records the federated tokens of STS; Impersonated the
	// service account's tokens. Both are access tokens a registry takes.
	Federated, Impersonated issuedTokens

	now      func() time.Time
	subjects map[string]string // federated token -> subject
}

// NewFakeGoogleFederation starts the fake; now dates the tokens' expiry.
func NewFakeGoogleFederation(t testing.TB, now func() time.Time) *FakeGoogleFederation {
	f := &FakeGoogleFederation{ServiceAccount: "puller@hoist-test.iam.gserviceaccount.com", now: now, subjects: map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// Accept reports whether user and password are a Google access token it
// issued, as Artifact Registry accepts them.
func (f *FakeGoogleFederation) Accept(user, password string) bool {
	return user == "oauth2accesstoken" && (f.Federated.has(password) || f.Impersonated.has(password))
}

func (f *FakeGoogleFederation) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v1/token":
		f.exchange(w, r)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/v1/projects/-/serviceAccounts/") && strings.HasSuffix(r.URL.Path, ":generateAccessToken"):
		f.impersonate(w, r)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":404,"message":"Not Found","status":"NOT_FOUND"}}`))
	}
}

func (f *FakeGoogleFederation) exchange(w http.ResponseWriter, r *http.Request) {
	f.Federated.call()
	_ = r.ParseForm()
	fail := func(code, desc string) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	switch {
	case r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange":
		fail("unsupported_grant_type", "Unsupported grant type.")
		return
	case r.PostForm.Get("audience") != f.Audience:
		fail("invalid_target", "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.")
		return
	}
	sub, ok := f.Subject(r.PostForm.Get("subject_token"))
	if !ok {
		fail("invalid_grant", "The audience in ID Token does not match the expected audience.")
		return
	}
	tok := f.Federated.issue("ya29.d.federated")
	f.Federated.mu.Lock()
	f.subjects[tok] = sub
	f.Federated.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token":      tok,
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"token_type":        "Bearer",
		"expires_in":        3600,
	})
}

func (f *FakeGoogleFederation) impersonate(w http.ResponseWriter, r *http.Request) {
	f.Impersonated.call()
	email := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/projects/-/serviceAccounts/"), ":generateAccessToken")
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	f.Federated.mu.Lock()
	sub, ok := f.subjects[tok]
	f.Federated.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"code":401,"message":"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.","status":"UNAUTHENTICATED"}}`))
		return
	}
	if email != f.ServiceAccount || (f.Impersonators != nil && !f.Impersonators(sub)) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"error":{"code":403,"message":"Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).","status":"PERMISSION_DENIED"}}`))
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]string{
		"accessToken": f.Impersonated.issue("ya29.c.impersonated"),
		"expireTime":  f.now().Add(time.Hour).UTC().Format(time.RFC3339),
	})
}
