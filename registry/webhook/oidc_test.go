package webhook

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"
)

// testIssuer is an OIDC issuer on 127.0.0.1, as Flux's tests build one: a
// discovery document, a JWKS, and a key that signs ID tokens. It counts the
// requests it serves.
type testIssuer struct {
	srv  *httptest.Server
	key  *rsa.PrivateKey
	kid  string
	name string // the issuer its discovery document names; default its URL

	mu       sync.Mutex
	requests int
}

func newTestIssuer(t testing.TB) *testIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is := &testIssuer{key: key, kid: "test-key"}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		is.count()
		name := is.name
		if name == "" {
			name = is.srv.URL
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": name, "jwks_uri": is.srv.URL + "/jwks",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		is.count()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: key.Public(), KeyID: is.kid, Algorithm: string(jose.RS256), Use: "sig"},
		}})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

func (is *testIssuer) count() {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.requests++
}

func (is *testIssuer) served() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.requests
}

// sign returns an ID token with the claims, signed by the issuer's key (or
// by key when not nil).
func (is *testIssuer) sign(t testing.TB, claims map[string]any, key *rsa.PrivateKey) string {
	t.Helper()
	if key == nil {
		key = is.key
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", is.kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestGenericOIDC is Flux's TestValidateGenericOIDC (notification-controller
// internal/server/receiver_oidc_test.go) against the Handler, plus the
// cases of the gcr check: a token is accepted only when signed by a key of
// the configured issuer's JWKS (found through its discovery document on
// 127.0.0.1), for the provider's audience, not expired, and true of every
// validation; the claims reach resourceFilter.
func TestGenericOIDC(t *testing.T) {
	iss := newTestIssuer(t)
	other := newTestIssuer(t)
	impostor := newTestIssuer(t) // names another issuer in its discovery document
	impostor.name = "https://token.actions.githubusercontent.com"
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	base := OIDCProvider{IssuerURL: iss.srv.URL, Audience: "flux", Validations: []OIDCValidation{
		{Expression: `claims.repository == 'my-org/my-repo'`, Message: "wrong repo"},
		{Expression: `claims.environment == 'production'`, Message: "wrong environment"},
	}}
	receiver := func(name string, ps ...OIDCProvider) Receiver {
		return Receiver{Name: name, Namespace: "apps", Type: TypeGenericOIDC, OIDCProviders: ps, Resources: []string{"apps/web"}}
	}
	withVars := base
	withVars.Validations = []OIDCValidation{{Expression: `claims.repository in vars.allowed`, Message: "repo not allowed"}}
	withVars.Variables = []OIDCVariable{{Name: "allowed", Expression: `['my-org/my-repo']`}}
	defaultAud := base
	defaultAud.Audience = ""
	filtered := receiver("filtered", base)
	filtered.ResourceFilter = `claims.sub == 'deployer'`
	rs := []Receiver{
		receiver("ok", base), receiver("vars", withVars), receiver("default-aud", defaultAud),
		receiver("two", OIDCProvider{IssuerURL: other.srv.URL, Validations: []OIDCValidation{{Expression: "true", Message: "never"}}}, base),
		receiver("impostor", OIDCProvider{IssuerURL: impostor.srv.URL, Validations: []OIDCValidation{{Expression: "true", Message: "never"}}}),
		filtered,
	}

	var mu sync.Mutex
	var kept []string
	logs := &syncBuffer{}
	h, err := NewHandler(rs, func(ctx context.Context, r Receiver, req Request) error {
		ok, err := req.Keep(ctx, map[string]any{"metadata": map[string]any{"name": "web"}})
		if err != nil {
			return err
		}
		if ok {
			mu.Lock()
			kept = append(kept, r.Name)
			mu.Unlock()
		}
		return nil
	}, WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	valid := func(edit func(map[string]any)) map[string]any {
		c := map[string]any{
			"iss": iss.srv.URL, "aud": "flux", "sub": "subject",
			"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
			"repository": "my-org/my-repo", "environment": "production",
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	bearer := func(edit func(map[string]any)) string { return "Bearer " + iss.sign(t, valid(edit), nil) }

	tests := map[string]struct {
		receiver      string
		authorization string
		wantStatus    int
		wantKept      bool
		wantReason    string // a substring of the log's error
	}{
		"valid token passes validations":       {receiver: "ok", authorization: bearer(nil), wantStatus: 202, wantKept: true},
		"variables resolve before validations": {receiver: "vars", authorization: bearer(nil), wantStatus: 202, wantKept: true},
		"default audience": {receiver: "default-aud", wantStatus: 202, wantKept: true,
			authorization: bearer(func(c map[string]any) { c["aud"] = DefaultOIDCAudience })},
		"default audience, token for another": {receiver: "default-aud", authorization: bearer(nil), wantStatus: 401, wantReason: "audience"},
		"the second provider's issuer":        {receiver: "two", authorization: bearer(nil), wantStatus: 202, wantKept: true},
		"missing authorization header":        {receiver: "ok", wantStatus: 401, wantReason: "Authorization header is missing"},
		"malformed bearer":                    {receiver: "ok", authorization: "Bearer not-a-jwt", wantStatus: 401, wantReason: "ID token"},
		"not a bearer":                        {receiver: "ok", authorization: "Basic Zm9vOmJhcg==", wantStatus: 401, wantReason: "missing or malformed"},
		"unknown issuer": {receiver: "ok", wantStatus: 401, wantReason: "no oidcProvider for issuer",
			authorization: "Bearer " + other.sign(t, valid(func(c map[string]any) { c["iss"] = other.srv.URL }), nil)},
		"issuer claimed, signed by another key": {receiver: "ok", wantStatus: 401, wantReason: "bad signature",
			authorization: "Bearer " + iss.sign(t, valid(nil), stranger)},
		"wrong audience": {receiver: "ok", wantStatus: 401, wantReason: "audience",
			authorization: bearer(func(c map[string]any) { c["aud"] = "someone-else" })},
		"expired token": {receiver: "ok", wantStatus: 401, wantReason: "expired",
			authorization: bearer(func(c map[string]any) { c["exp"] = now.Add(-time.Minute - jwt.DefaultLeeway).Unix() })},
		"no expiry": {receiver: "ok", wantStatus: 401, wantReason: "no expiry",
			authorization: bearer(func(c map[string]any) { delete(c, "exp") })},
		"not yet valid": {receiver: "ok", wantStatus: 401, wantReason: "not valid yet",
			authorization: bearer(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })},
		"failed validations are aggregated": {receiver: "ok", wantStatus: 401, wantReason: "wrong repo; wrong environment",
			authorization: bearer(func(c map[string]any) { c["repository"], c["environment"] = "evil/repo", "staging" })},
		"a validation on a missing claim fails": {receiver: "ok", wantStatus: 401, wantReason: "no such key",
			authorization: bearer(func(c map[string]any) { delete(c, "repository") })},
		"discovery names another issuer": {receiver: "impostor", wantStatus: 401, wantReason: "names issuer",
			authorization: "Bearer " + impostor.sign(t, valid(func(c map[string]any) { c["iss"] = impostor.srv.URL; c["aud"] = DefaultOIDCAudience }), nil)},
		"resourceFilter sees the claims, keeps": {receiver: "filtered", wantStatus: 202, wantKept: true,
			authorization: bearer(func(c map[string]any) { c["sub"] = "deployer" })},
		"resourceFilter sees the claims, drops": {receiver: "filtered", wantStatus: 202, authorization: bearer(nil)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			before := len(logs.String())
			mu.Lock()
			kept = nil
			mu.Unlock()
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+Path("", tc.receiver, "apps"), strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			if tc.authorization != "" {
				req.Header.Set("Authorization", tc.authorization)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d; log:\n%s", resp.StatusCode, tc.wantStatus, logs.String()[before:])
			}
			var want []string
			if tc.wantKept {
				want = []string{tc.receiver}
			}
			mu.Lock()
			got := kept
			mu.Unlock()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("kept (-want +got):\n%s", diff)
			}
			if log := logs.String()[before:]; tc.wantReason != "" && !strings.Contains(log, tc.wantReason) {
				t.Errorf("log does not say %q:\n%s", tc.wantReason, log)
			}
		})
	}
	// Discovery and key set are fetched once per issuer, then cached.
	if got := iss.served(); got != 2 {
		t.Errorf("the issuer served %d requests, want 2 (discovery, JWKS)", got)
	}
}

// TestGenericOIDCDiscoveryRetry: an issuer that cannot be reached is asked
// again at most once a minute, whatever the requests.
func TestGenericOIDCDiscoveryRetry(t *testing.T) {
	iss := newTestIssuer(t)
	down := true
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if down {
			iss.count()
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		iss.srv.Config.Handler.ServeHTTP(w, r)
	})
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	// The issuer is the front server; its discovery must name it.
	iss.name = front.URL

	clock := time.Now()
	issuers := newOIDCIssuers(nil, func() time.Time { return clock })
	ps, err := compileProviders([]OIDCProvider{{IssuerURL: front.URL, Validations: []OIDCValidation{{Expression: "true", Message: "m"}}}})
	if err != nil {
		t.Fatal(err)
	}
	tok := "Bearer " + iss.sign(t, map[string]any{"iss": front.URL, "aud": DefaultOIDCAudience, "exp": clock.Add(time.Hour).Unix()}, nil)
	verify := func() error {
		_, err := verifyOIDCToken(t.Context(), issuers, ps, clock, tok)
		return err
	}
	for range 3 {
		if err := verify(); err == nil {
			t.Fatal("verified while the issuer is down")
		}
	}
	if got := iss.served(); got != 1 {
		t.Errorf("%d discovery requests while down, want 1", got)
	}
	down = false
	if err := verify(); err == nil {
		t.Error("verified within the minute: the failure should be cached")
	}
	clock = clock.Add(jwksRefetch)
	if err := verify(); err != nil {
		t.Errorf("after a minute, with the issuer up: %v", err)
	}
}

func TestCompileOIDCProviders(t *testing.T) {
	ok := []OIDCValidation{{Expression: "claims.sub == 'x'", Message: "m"}}
	tests := map[string]struct {
		providers []OIDCProvider
		want      string // a substring of the error; "" for none
	}{
		"valid":           {providers: []OIDCProvider{{IssuerURL: "https://token.actions.githubusercontent.com", Validations: ok}}},
		"none":            {want: "none"},
		"no issuer":       {providers: []OIDCProvider{{Validations: ok}}, want: "issuerURL is required"},
		"not http":        {providers: []OIDCProvider{{IssuerURL: "ftp://x", Validations: ok}}, want: "want http"},
		"twice":           {providers: []OIDCProvider{{IssuerURL: "https://a", Validations: ok}, {IssuerURL: "https://a", Validations: ok}}, want: "twice"},
		"no validation":   {providers: []OIDCProvider{{IssuerURL: "https://a"}}, want: "at least one validation"},
		"no message":      {providers: []OIDCProvider{{IssuerURL: "https://a", Validations: []OIDCValidation{{Expression: "true"}}}}, want: "message is required"},
		"not a boolean":   {providers: []OIDCProvider{{IssuerURL: "https://a", Validations: []OIDCValidation{{Expression: "'x'", Message: "m"}}}}, want: "want a boolean"},
		"does not parse":  {providers: []OIDCProvider{{IssuerURL: "https://a", Validations: []OIDCValidation{{Expression: "claims.", Message: "m"}}}}, want: "validations[0]"},
		"bad var name":    {providers: []OIDCProvider{{IssuerURL: "https://a", Validations: ok, Variables: []OIDCVariable{{Name: "a-b", Expression: "1"}}}}, want: "CEL identifier"},
		"unknown var use": {providers: []OIDCProvider{{IssuerURL: "https://a", Validations: []OIDCValidation{{Expression: "other == 1", Message: "m"}}}}, want: "undeclared"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := CompileOIDCProviders(tc.providers)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidOIDCProvider)):
				t.Fatalf("error %v, want ErrInvalidOIDCProvider saying %q", err, tc.want)
			}
		})
	}
}
