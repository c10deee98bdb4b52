package service_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/hoist-dev/hoist/registry/webhook"
)

const (
	gcrAudience = "https://hoist.example.com/hook"
	gcrEmail    = "pubsub-push@acme.iam.gserviceaccount.com"
)

// idTokenIssuer stands for Google's token service: it serves its JWKS on
// 127.0.0.1 and signs ID tokens with its key (or with another key, which the
// JWKS does not hold).
type idTokenIssuer struct {
	key, other *rsa.PrivateKey
	keys       *webhook.JWKS
}

// idClaims are the claims of an ID token, as Pub/Sub push sends them.
type idClaims struct {
	jwt.Claims
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	kid           string
	otherKey      bool
}

func newIDTokenIssuer(t *testing.T) *idTokenIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: string(jose.RS256), Use: "sig"}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	return &idTokenIssuer{key: key, other: other, keys: webhook.NewJWKS(srv.URL, srv.Client(), nil)}
}

// bearer returns the Authorization header of a valid ID token, changed by
// edit when not nil.
func (g *idTokenIssuer) bearer(edit func(*idClaims)) func([]byte) http.Header {
	return func([]byte) http.Header {
		now := time.Now()
		c := idClaims{
			Claims: jwt.Claims{
				Issuer: "https://accounts.google.com", Subject: "1234567890", Audience: jwt.Audience{gcrAudience},
				IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour)),
			},
			Email: gcrEmail, EmailVerified: true, kid: "k1",
		}
		if edit != nil {
			edit(&c)
		}
		key := g.key
		if c.otherKey {
			key = g.other
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", c.kid))
		if err != nil {
			panic(err)
		}
		tok, err := jwt.Signed(signer).Claims(c.Claims).Claims(map[string]any{"email": c.Email, "email_verified": c.EmailVerified}).Serialize()
		if err != nil {
			panic(err)
		}
		return http.Header{"Authorization": {"Bearer " + tok}}
	}
}

// gcrPush is a Pub/Sub push message of an Artifact Registry notification.
func gcrPush(action, ref string) []byte {
	data, _ := json.Marshal(map[string]string{"action": action, "tag": ref})
	if strings.Contains(ref, "@") {
		data, _ = json.Marshal(map[string]string{"action": action, "digest": ref})
	}
	body, _ := json.Marshal(map[string]any{
		"message":      map[string]string{"data": base64.StdEncoding.EncodeToString(data), "messageId": "1"},
		"subscription": "projects/acme/subscriptions/hoist",
	})
	return body
}

// oidcIssuer is an OIDC issuer on 127.0.0.1 for generic-oidc receivers, as
// Flux's tests build one: a discovery document at
// /.well-known/openid-configuration naming its JWKS, and a key that signs
// ID tokens (other signs tokens its JWKS does not hold).
type oidcIssuer struct {
	url        string
	key, other *rsa.PrivateKey
}

func newOIDCIssuer(t *testing.T) *oidcIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "jwks_uri": srv.URL + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: string(jose.RS256), Use: "sig"}}})
	})
	return &oidcIssuer{url: srv.URL, key: key, other: other}
}

// bearer returns the Authorization header of an ID token as a GitHub
// Actions workflow of acme/app sends it, its claims changed by edit when
// not nil; an edit that sets "-key" signs with the other key.
func (o *oidcIssuer) bearer(edit func(map[string]any)) func([]byte) http.Header {
	return func([]byte) http.Header {
		now := time.Now()
		c := map[string]any{
			"iss": o.url, "aud": "hoist", "sub": "repo:acme/app:ref:refs/heads/main",
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
			"repository": "acme/app", "ref": "refs/heads/main",
		}
		if edit != nil {
			edit(c)
		}
		key := o.key
		if _, ok := c["-key"]; ok {
			key = o.other
			delete(c, "-key")
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
		if err != nil {
			panic(err)
		}
		tok, err := jwt.Signed(signer).Claims(c).Serialize()
		if err != nil {
			panic(err)
		}
		return http.Header{"Authorization": {"Bearer " + tok}}
	}
}

// oidcReceiver writes the configuration of a generic-oidc receiver that
// trusts issuer for acme/app's main branch, and returns its path.
func oidcReceiver(t *testing.T, issuer string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "oidc.yaml")
	doc := `apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata: {name: generic-oidc, namespace: apps}
spec:
  type: generic-oidc
  oidcProviders:
    - issuerURL: ` + issuer + `
      audience: hoist
      variables:
        - {name: repo, expression: claims.repository}
      validations:
        - {expression: "vars.repo == 'acme/app'", message: "not acme/app"}
        - {expression: "claims.ref == 'refs/heads/main'", message: "not main"}
  resourceFilter: "!has(req.body.only) || res.metadata.name == req.body.only"
  resources:
    - {kind: ImageRepository, name: web}
    - {kind: ImageRepository, name: api}
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
