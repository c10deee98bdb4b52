package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
)

// TokenServer issues the bearer tokens (ES256 JWTs) that a registry with
// AuthToken accepts, in the Docker token protocol: GET /token?service=..
// &scope=repository:NAME:pull with the registry's basic credentials.
type TokenServer struct {
	// URL is "http://localhost:PORT" (listening on 127.0.0.1); the realm is
	// URL + "/token".
	URL string

	key       *ecdsa.PrivateKey
	jwks      string
	user      string
	password  string
	anonymous bool
	accept    func(user, password string) bool
	onIP      bool
	requests  atomic.Int64
	refused   atomic.Int64
}

const (
	tokenService = "hoist-test-registry"
	tokenIssuer  = "hoist-test-token-server"
	tokenKeyID   = "hoist-test-key"
)

func newTokenServer(t testing.TB, dir, user, password string, anonymous bool, accept func(user, password string) bool, realmOnIP bool) *TokenServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ts := &TokenServer{key: key, user: user, password: password, anonymous: anonymous, accept: accept}
	pub, err := key.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	raw := pub.Bytes() // 0x04 || X || Y
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "kid": tokenKeyID, "alg": "ES256", "use": "sig",
		"x": b64(raw[1:33]), "y": b64(raw[33:]),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ts.jwks = filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(ts.jwks, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(srv.Close)
	// The realm is named "localhost", not 127.0.0.1: go-containerregistry
	// refuses a realm on a private IP literal other than the registry's own
	// host:port (SSRF guard), but not a host name.
	ts.URL = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	if realmOnIP {
		ts.URL = srv.URL
		ts.onIP = true
	}
	return ts
}

// Requests counts token requests, granted or refused.
func (ts *TokenServer) Requests() int64 { return ts.requests.Load() }

// Refused counts token requests refused for bad or missing credentials.
func (ts *TokenServer) Refused() int64 { return ts.refused.Load() }

func (ts *TokenServer) accessControllerParameters() configuration.Parameters {
	return configuration.Parameters{
		"realm":   ts.URL + "/token",
		"service": tokenService,
		"issuer":  tokenIssuer,
		"jwks":    ts.jwks,
	}
}

func (ts *TokenServer) serve(w http.ResponseWriter, r *http.Request) {
	ts.requests.Add(1)
	if r.URL.Path != "/token" || r.Method != http.MethodGet {
		http.Error(w, "only GET /token", http.StatusMethodNotAllowed)
		return
	}
	user, pass, hasAuth := r.BasicAuth()
	authenticated := hasAuth &&
		subtle.ConstantTimeCompare([]byte(user), []byte(ts.user)) == 1 &&
		subtle.ConstantTimeCompare([]byte(pass), []byte(ts.password)) == 1
	if hasAuth && ts.accept != nil {
		authenticated = ts.accept(user, pass)
	}
	if (hasAuth && !authenticated) || (!hasAuth && !ts.anonymous) {
		ts.refused.Add(1)
		w.Header().Set("WWW-Authenticate", `Basic realm="hoist-test-token"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
		return
	}
	type access struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Actions []string `json:"actions"`
	}
	var granted []access
	for _, scope := range r.URL.Query()["scope"] {
		for s := range strings.FieldsSeq(scope) {
			parts := strings.Split(s, ":")
			if len(parts) < 3 || parts[0] != "repository" {
				continue
			}
			name := strings.Join(parts[1:len(parts)-1], ":")
			var actions []string
			for a := range strings.SplitSeq(parts[len(parts)-1], ",") {
				if a == "pull" || (authenticated && (a == "push" || a == "delete" || a == "*")) {
					actions = append(actions, a)
				}
			}
			granted = append(granted, access{Type: "repository", Name: name, Actions: actions})
		}
	}
	now := time.Now()
	subject := user
	if !authenticated {
		subject = "anonymous"
	}
	token, err := ts.sign(map[string]any{
		"iss":    tokenIssuer,
		"sub":    subject,
		"aud":    tokenService,
		"exp":    now.Add(5 * time.Minute).Unix(),
		"nbf":    now.Add(-time.Minute).Unix(),
		"iat":    now.Unix(),
		"jti":    base64.RawURLEncoding.EncodeToString(tokenRandomBytes(12)),
		"access": granted,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token": token, "access_token": token, "expires_in": 300, "issued_at": now.UTC().Format(time.RFC3339),
	})
}

// sign makes a compact JWS with ES256 and the key ID the registry trusts.
func (ts *TokenServer) sign(claims map[string]any) (string, error) {
	header, err := json.Marshal(map[string]string{"alg": "ES256", "typ": "JWT", "kid": tokenKeyID})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	input := b64(header) + "." + b64(payload)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, ts.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64(sig), nil
}

func tokenRandomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// mintTransport sends every request with a token for its repository
// (pull and push), signed by the token server: pushes of the test setup
// that do not go through the realm.
type mintTransport struct {
	inner http.RoundTripper
	ts    *TokenServer
}

func (m *mintTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var granted []map[string]any
	if rest, ok := strings.CutPrefix(req.URL.Path, "/v2/"); ok {
		for _, kind := range []string{"/manifests/", "/blobs/", "/tags/"} {
			if i := strings.Index(rest, kind); i > 0 {
				granted = append(granted, map[string]any{"type": "repository", "name": rest[:i], "actions": []string{"pull", "push"}})
				break
			}
		}
	}
	now := time.Now()
	token, err := m.ts.sign(map[string]any{
		"iss": tokenIssuer, "sub": "testenv", "aud": tokenService,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(tokenRandomBytes(12)), "access": granted,
	})
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+token)
	return m.inner.RoundTrip(r)
}
