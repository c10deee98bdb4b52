package registry

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/hoist-dev/hoist/internal/testenv"
)

const (
	bundleTestDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	bundleOtherHex   = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

// dsseBundle signs payload as a DSSE envelope of payloadType with key and
// wraps it in a bundle, for the cases cosign does not write.
func dsseBundle(t testing.TB, key *testenv.CosignKey, payloadType string, payload []byte, extra map[string]any) []byte {
	t.Helper()
	sv, err := signature.LoadECDSASignerVerifier(key.Private, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := dsse.WrapSigner(sv, payloadType).SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	if err := json.Unmarshal(signed, &env); err != nil {
		t.Fatal(err)
	}
	b := map[string]any{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "dsseEnvelope": env}
	for k, v := range extra {
		b[k] = v
	}
	data, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func statement(predicate string, digests ...map[string]string) []byte {
	var subjects []map[string]any
	for _, d := range digests {
		subjects = append(subjects, map[string]any{"name": "r/app", "digest": d})
	}
	b, _ := json.Marshal(map[string]any{"_type": "https://in-toto.io/Statement/v1", "subject": subjects, "predicateType": predicate, "predicate": map[string]any{}})
	return b
}

// TestCheckBundle checks the reasons a Sigstore bundle is refused, for the
// bundles cosign writes and for hand-made ones that only a hostile or broken
// signer writes.
func TestCheckBundle(t *testing.T) {
	key, other := testenv.NewCosignKey(t), testenv.NewCosignKey(t)
	parsed, err := ParseCosignKey(key.PublicPEM)
	if err != nil {
		t.Fatal(err)
	}
	h, err := v1.NewHash(bundleTestDigest)
	if err != nil {
		t.Fatal(err)
	}
	s := &sigReader{digest: h, key: parsed}
	mine := map[string]string{"sha256": h.Hex}
	valid := testenv.NewSigstoreBundle(t, bundleTestDigest, key, testenv.BundleOptions{})
	var twoSigs map[string]any
	if err := json.Unmarshal(valid, &twoSigs); err != nil {
		t.Fatal(err)
	}
	env := twoSigs["dsseEnvelope"].(map[string]any)
	sigs := env["signatures"].([]any)
	env["signatures"] = append(sigs, sigs[0])
	twoSigsJSON, _ := json.Marshal(twoSigs)

	tests := map[string]struct {
		bundle []byte
		want   string
	}{
		"cosign v3 sign --key":            {bundle: valid},
		"message signature":               {bundle: testenv.NewSigstoreBundle(t, bundleTestDigest, key, testenv.BundleOptions{MessageSignature: true})},
		"statement with several subjects": {bundle: dsseBundle(t, key, inTotoPayloadType, statement(cosignSignPredicate, map[string]string{"sha256": bundleOtherHex}, mine), nil)},
		"another key":                     {bundle: testenv.NewSigstoreBundle(t, bundleTestDigest, other, testenv.BundleOptions{}), want: "Sigstore bundle's signature does not verify with the key"},
		"another key, message signature": {
			bundle: testenv.NewSigstoreBundle(t, bundleTestDigest, other, testenv.BundleOptions{MessageSignature: true}),
			want:   "Sigstore bundle's signature does not verify with the key",
		},
		"keyless, another key": {
			bundle: dsseBundle(t, other, inTotoPayloadType, statement(cosignSignPredicate, mine),
				map[string]any{"verificationMaterial": map[string]any{"certificate": map[string]string{"rawBytes": "AAAA"}}}),
			want: "Sigstore bundle is keyless (a certificate, not verified offline) and does not verify with the key",
		},
		"another digest": {
			bundle: testenv.NewSigstoreBundle(t, bundleTestDigest, key, testenv.BundleOptions{Subject: "sha256:" + bundleOtherHex}),
			want:   "Sigstore bundle signs sha256:" + bundleOtherHex + ", not this digest",
		},
		"message signature of another digest": {
			bundle: testenv.NewSigstoreBundle(t, bundleTestDigest, key, testenv.BundleOptions{Subject: "sha256:" + bundleOtherHex, MessageSignature: true}),
			want:   "Sigstore bundle signs sha256:" + bundleOtherHex + ", not this digest",
		},
		"payload changed after signing": {
			bundle: testenv.NewSigstoreBundle(t, bundleTestDigest, key, testenv.BundleOptions{TamperPayload: true}),
			want:   "Sigstore bundle's signature does not verify with the key",
		},
		"an attestation": {
			bundle: testenv.NewSigstoreBundle(t, bundleTestDigest, key, testenv.BundleOptions{PredicateType: "https://slsa.dev/provenance/v1"}),
			want:   `Sigstore bundle is an attestation (predicate type "https://slsa.dev/provenance/v1"), not a signature`,
		},
		"no sha256 subject": {
			bundle: dsseBundle(t, key, inTotoPayloadType, statement(cosignSignPredicate, map[string]string{"sha512": "00"}), nil),
			want:   "Sigstore bundle's statement names no sha256 digest",
		},
		"payload not a statement": {
			bundle: dsseBundle(t, key, inTotoPayloadType, []byte(`{"critical":{}}`), nil),
			want:   "Sigstore bundle's payload is not an in-toto statement",
		},
		"payload type not in-toto": {
			bundle: dsseBundle(t, key, "application/vnd.dev.cosign.simplesigning.v1+json", statement(cosignSignPredicate, mine), nil),
			want:   `Sigstore bundle's DSSE payload type "application/vnd.dev.cosign.simplesigning.v1+json" is not "application/vnd.in-toto+json"`,
		},
		"two DSSE signatures": {bundle: twoSigsJSON, want: "invalid Sigstore bundle: a DSSE envelope with 2 signatures, not one"},
		"not JSON":            {bundle: []byte("sig"), want: "invalid Sigstore bundle: "},
		"unknown media type": {
			bundle: []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v9+json","dsseEnvelope":{}}`),
			want:   `invalid Sigstore bundle: media type "application/vnd.dev.sigstore.bundle.v9+json"`,
		},
		"no content": {
			bundle: []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.2"}`),
			want:   "invalid Sigstore bundle: neither a message signature nor a DSSE envelope",
		},
		"both contents": {
			bundle: []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{},"messageSignature":{}}`),
			want:   "invalid Sigstore bundle: both a message signature and a DSSE envelope",
		},
		"message digest of another algorithm": {
			bundle: []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","messageSignature":{"messageDigest":{"algorithm":"SHA2_384","digest":"AAAA"},"signature":"AAAA"}}`),
			want:   "Sigstore bundle signs a SHA2_384 digest, not this sha256 digest",
		},
		"signature not base64": {
			bundle: []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[{"sig":"!!"}]}}`),
			want:   "invalid Sigstore bundle: DSSE signature is not base64",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := s.checkBundle(tc.bundle)
			if tc.want == "" && got != "" || tc.want != "" && !strings.HasPrefix(got, tc.want) {
				t.Errorf("checkBundle = %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzCheckBundle feeds checkBundle any bytes, from bundles by the key for
// the digest (and for another one) mutated: it never panics, and it
// accepts a bundle only when what the key signed names the digest.
func FuzzCheckBundle(f *testing.F) {
	key := testenv.NewCosignKey(f)
	parsed, err := ParseCosignKey(key.PublicPEM)
	if err != nil {
		f.Fatal(err)
	}
	h, err := v1.NewHash(bundleTestDigest)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(testenv.NewSigstoreBundle(f, bundleTestDigest, key, testenv.BundleOptions{}))
	f.Add(testenv.NewSigstoreBundle(f, bundleTestDigest, key, testenv.BundleOptions{MessageSignature: true}))
	f.Add(testenv.NewSigstoreBundle(f, bundleTestDigest, key, testenv.BundleOptions{Subject: "sha256:" + bundleOtherHex}))
	f.Add(testenv.NewSigstoreBundle(f, bundleTestDigest, key, testenv.BundleOptions{PredicateType: "https://slsa.dev/provenance/v1"}))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.1","messageSignature":{"messageDigest":{"algorithm":1,"digest":"ASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4mrze8="},"signature":"MEUCIQ=="}}`))
	s := &sigReader{digest: h, key: parsed}
	f.Fuzz(func(t *testing.T, data []byte) {
		if s.checkBundle(data) != "" {
			return
		}
		b, err := parseBundle(data)
		if err != nil {
			t.Fatalf("accepted a bundle that does not parse: %v", err)
		}
		if b.message != nil {
			if hex.EncodeToString(b.message.digest) != h.Hex {
				t.Fatalf("accepted a message signature of %x", b.message.digest)
			}
			return
		}
		var env struct{ Payload string }
		if err := json.Unmarshal(b.envelope, &env); err != nil {
			t.Fatal(err)
		}
		payload, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil {
			t.Fatal(err)
		}
		var st inTotoStatement
		if err := json.Unmarshal(payload, &st); err != nil || st.PredicateType != cosignSignPredicate {
			t.Fatalf("accepted a payload that is not a cosign signature statement: %s", payload)
		}
		for _, sub := range st.Subject {
			if strings.EqualFold(sub.Digest["sha256"], h.Hex) {
				return
			}
		}
		t.Fatalf("accepted a statement that does not name the digest: %s", payload)
	})
}
