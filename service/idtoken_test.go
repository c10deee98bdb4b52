package service_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
