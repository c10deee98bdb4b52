package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// FuzzVerifySignature feeds check any payload, validly signed by the key,
// and any signature text: it never panics, accepts a validly signed payload
// exactly when the payload is a cosign simple-signing document naming the
// digest, and refuses every signature that is not the key's.
func FuzzVerifySignature(f *testing.F) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		f.Fatal(err)
	}
	key, err := ParseCosignKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		f.Fatal(err)
	}
	digest := v1.Hash{Algorithm: "sha256", Hex: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	f.Add([]byte(`{"critical":{"identity":{"docker-reference":"r/app"},"image":{"docker-manifest-digest":"`+digest.String()+`"},"type":"cosign container image signature"},"optional":null}`), "")
	f.Add([]byte(`{"critical":{"image":{"docker-manifest-digest":"sha256:00"},"type":"cosign container image signature"}}`), "AAAA")
	f.Add([]byte(`{"critical":{"image":{"docker-manifest-digest":"`+digest.String()+`"},"type":"atomic container signature"}}`), "!")
	f.Add([]byte(`null`), "MEUCIQ==")
	s := sigReader{digest: digest, key: key}
	f.Fuzz(func(t *testing.T, payload []byte, otherSig string) {
		sum := sha256.Sum256(payload)
		sig, err := ecdsa.SignASN1(rand.Reader, priv, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		// The simple-signing document (containers-signature(5)).
		var p struct {
			Critical struct {
				Identity struct {
					Reference string `json:"docker-reference"`
				} `json:"identity"`
				Image struct {
					Digest string `json:"docker-manifest-digest"`
				} `json:"image"`
				Type string `json:"type"`
			} `json:"critical"`
			Optional map[string]any `json:"optional"`
		}
		want := json.Unmarshal(payload, &p) == nil && p.Critical.Type == "cosign container image signature" && p.Critical.Image.Digest == digest.String()
		reason := s.check(base64.StdEncoding.EncodeToString(sig), payload)
		if got := reason == ""; got != want {
			t.Errorf("check(%q) = %q; want accepted %t", payload, reason, want)
		}
		if otherSig != base64.StdEncoding.EncodeToString(sig) && s.check(otherSig, payload) == "" {
			// A signature not made now can only verify by chance.
			if raw, err := base64.StdEncoding.DecodeString(otherSig); err == nil && ecdsa.VerifyASN1(&priv.PublicKey, sum[:], raw) {
				return
			}
			t.Errorf("check accepted signature %q that the key did not make for %q", otherSig, payload)
		}
	})
}
