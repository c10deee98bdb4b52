package testenv

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FakeGitHubApp answers as GitHub's "create an installation access token
// for an app" endpoint, POST /app/installations/{id}/access_tokens. GitHub
// cannot be reached from the tests, so this fake follows GitHub's REST API
// reference: the request carries the app's JWT (RS256, iss = app ID,
// exp at most ten minutes ahead) as a bearer token; the answer is 201 with
// {"token": "ghs_...", "expires_at": ...}, an hour ahead; a JWT that does not
// verify is 401, an installation the app does not have is 404, each with
// GitHub's {"message", "documentation_url"} body. Serve it with NewServer,
// or mount it (ServeHTTP) under a prefix such as /api/v3.
type FakeGitHubApp struct {
	// URL is the API base URL ("http://127.0.0.1:PORT") when started with
	// NewServer, else "".
	URL string
	// AppID and InstallationID are the app's.
	AppID, InstallationID string
	// Tokens counts token requests and records the tokens issued.
	Tokens issuedTokens

	key *rsa.PrivateKey
	now func() time.Time
}

// NewFakeGitHubApp makes an app with a new RSA key; now is the clock that
// checks the JWT and dates the tokens' expiry.
func NewFakeGitHubApp(t testing.TB, now func() time.Time) *FakeGitHubApp {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &FakeGitHubApp{AppID: "1029384", InstallationID: "56473829", key: key, now: now}
}

// NewServer serves the app's API on 127.0.0.1 and sets URL.
func (f *FakeGitHubApp) NewServer(t testing.TB) *FakeGitHubApp {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// PrivateKeyPEM is the app's private key as GitHub hands it out (PKCS#1).
func (f *FakeGitHubApp) PrivateKeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(f.key)})
}

// Accept reports whether user and password are an installation token it
// issued, sent as GitHub accepts it over Git HTTPS (user x-access-token).
func (f *FakeGitHubApp) Accept(user, password string) bool {
	return user == "x-access-token" && f.Tokens.has(password)
}

// Valid reports whether tok is an installation token it issued.
func (f *FakeGitHubApp) Valid(tok string) bool { return f.Tokens.has(tok) }

func (f *FakeGitHubApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	fail := func(status int, msg string) {
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{
			"message":           msg,
			"documentation_url": "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app",
			"status":            http.StatusText(status),
		})
	}
	i := strings.Index(r.URL.Path, "/app/installations/")
	id, ok := strings.CutSuffix(r.URL.Path[max(i, 0)+len("/app/installations/"):], "/access_tokens")
	if i < 0 || !ok || r.Method != http.MethodPost {
		fail(http.StatusNotFound, "Not Found")
		return
	}
	f.Tokens.call()
	jwt, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		fail(http.StatusUnauthorized, "A JSON web token could not be decoded")
		return
	}
	if msg := f.verify(jwt); msg != "" {
		fail(http.StatusUnauthorized, msg)
		return
	}
	if id != f.InstallationID {
		fail(http.StatusNotFound, "Not Found")
		return
	}
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token":                f.Tokens.issue("ghs_"),
		"expires_at":           f.now().Add(time.Hour).UTC().Format(time.RFC3339),
		"permissions":          map[string]string{"contents": "write", "pull_requests": "write"},
		"repository_selection": "selected",
	})
}

// verify checks the app's JWT as GitHub does; it returns GitHub's message
// for a JWT it refuses, or "".
func (f *FakeGitHubApp) verify(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "A JSON web token could not be decoded"
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss any   `json:"iss"`
		Iat int64 `json:"iat"`
		Exp int64 `json:"exp"`
	}
	h, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	c, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(h, &header) != nil || json.Unmarshal(c, &claims) != nil {
		return "A JSON web token could not be decoded"
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if header.Alg != "RS256" || rsa.VerifyPKCS1v15(&f.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return "A JSON web token could not be decoded"
	}
	now := f.now()
	switch {
	case claims.Exp <= now.Unix() || claims.Exp > now.Add(10*time.Minute+30*time.Second).Unix():
		return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	case claims.Iat > now.Add(time.Minute).Unix():
		return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	}
	if iss, _ := json.Marshal(claims.Iss); strings.Trim(string(iss), `"`) != f.AppID {
		return "Integration not found"
	}
	return ""
}
