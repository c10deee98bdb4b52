package webhook

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// keyServer serves a JWKS on 127.0.0.1 whose keys the test replaces, and
// counts the fetches.
type keyServer struct {
	mu      sync.Mutex
	set     jose.JSONWebKeySet
	fetches int
	srv     *httptest.Server
}

func newKeyServer(t *testing.T) *keyServer {
	t.Helper()
	ks := &keyServer{}
	ks.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		ks.mu.Lock()
		defer ks.mu.Unlock()
		ks.fetches++
		_ = json.NewEncoder(w).Encode(ks.set)
	}))
	t.Cleanup(ks.srv.Close)
	return ks
}

func (ks *keyServer) publish(kid string, key *ecdsa.PrivateKey) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.set = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: kid, Algorithm: string(jose.ES256)}}}
}

func (ks *keyServer) count() int {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	return ks.fetches
}

func idToken(t *testing.T, kid string, key *ecdsa.PrivateKey, now time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: "accounts.google.com", Audience: jwt.Audience{"aud"},
		Expiry: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now)}).
		Claims(map[string]any{"email": "push@acme.iam.gserviceaccount.com", "email_verified": true}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// TestJWKSRotation: the key set is fetched once and cached; a token signed
// by a key it does not hold fetches it again (Google rotates its keys), but
// not more than once a minute, whatever the tokens sent.
func TestJWKSRotation(t *testing.T) {
	ks := newKeyServer(t)
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ks.publish("k1", k1)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	keys := NewJWKS(ks.srv.URL, ks.srv.Client(), clock)
	verify := func(kid string, key *ecdsa.PrivateKey) error {
		return verifyGoogleIDToken(t.Context(), keys, now, idToken(t, kid, key, now), "aud", "push@acme.iam.gserviceaccount.com")
	}

	steps := []struct {
		name        string
		advance     time.Duration
		kid         string
		key         *ecdsa.PrivateKey
		rotate      bool
		wantOK      bool
		wantFetches int
	}{
		{name: "first token fetches", kid: "k1", key: k1, wantOK: true, wantFetches: 1},
		{name: "cached", kid: "k1", key: k1, wantOK: true, wantFetches: 1},
		{name: "rotated, within the minute: refused, no fetch", rotate: true, advance: 30 * time.Second, kid: "k2", key: k2, wantFetches: 1},
		{name: "unknown key again: no fetch", advance: 10 * time.Second, kid: "forged", key: k2, wantFetches: 1},
		{name: "after the minute: fetched again", advance: 30 * time.Second, kid: "k2", key: k2, wantOK: true, wantFetches: 2},
		{name: "the old key is gone", kid: "k1", key: k1, wantFetches: 2},
	}
	for _, s := range steps {
		if s.rotate {
			ks.publish("k2", k2)
		}
		now = now.Add(s.advance)
		err := verify(s.kid, s.key)
		if (err == nil) != s.wantOK {
			t.Errorf("%s: verify: %v, want ok %t", s.name, err, s.wantOK)
		}
		if got := ks.count(); got != s.wantFetches {
			t.Errorf("%s: %d fetches, want %d", s.name, got, s.wantFetches)
		}
	}
}
