package registry

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sigstore/sigstore/pkg/signature/dsse"
	sigopts "github.com/sigstore/sigstore/pkg/signature/options"
)

// The Sigstore bundle form of a cosign signature, the one cosign v3 writes by
// default (`cosign sign --key`, --new-bundle-format): an OCI 1.1 referrer of
// the signed digest whose artifactType and only layer are the bundle media
// type, the layer holding the bundle (protobuf-specs' Bundle in its JSON
// form). With a key, the bundle's content is a DSSE envelope over an in-toto
// statement (predicate type cosignSignPredicate, subject digest the image's),
// or a message signature over the manifest (`cosign sign-blob` of it).
const (
	// sigstoreBundlePrefix starts every bundle media type (v0.1 to v0.3).
	sigstoreBundlePrefix = "application/vnd.dev.sigstore.bundle"
	// ociEmptyType is the empty config's media type. Some registries (and
	// cosign releases before the artifactType fix, sigstore/cosign issue
	// 4422) list a bundle referrer with it as artifactType.
	ociEmptyType = "application/vnd.oci.empty.v1+json"
	// bundlePredicateAnnot names the predicate type of a bundle's statement
	// on its referrer; unsigned, so only a hint to skip attestations.
	bundlePredicateAnnot = "dev.sigstore.bundle.predicateType"
	// cosignSignPredicate is the predicate type of cosign's image
	// signatures (the statement says "this digest is signed").
	cosignSignPredicate = "https://sigstore.dev/cosign/sign/v1"
	// inTotoPayloadType is the DSSE payload type of an in-toto statement.
	inTotoPayloadType = "application/vnd.in-toto+json"
	// maxBundleSize bounds the bundle layer read; cosign's are a few KiB.
	maxBundleSize = 1 << 20
)

// bundleMediaTypes are the bundle versions read: their JSON form is the same
// for what a key verifies.
var bundleMediaTypes = map[string]bool{
	"application/vnd.dev.sigstore.bundle+json;version=0.1": true,
	"application/vnd.dev.sigstore.bundle+json;version=0.2": true,
	"application/vnd.dev.sigstore.bundle+json;version=0.3": true,
	"application/vnd.dev.sigstore.bundle.v0.3+json":        true,
}

// The in-toto statement types a DSSE bundle may hold.
var inTotoStatementTypes = map[string]bool{
	"https://in-toto.io/Statement/v1":   true,
	"https://in-toto.io/Statement/v0.1": true,
}

// errBundle is wrapped by every reason parseBundle refuses a bundle.
var errBundle = errors.New("invalid Sigstore bundle")

// isBundleType reports whether a media type or artifact type is a Sigstore
// bundle's.
func isBundleType(mt string) bool { return strings.HasPrefix(mt, sigstoreBundlePrefix) }

// sigBundle is what a key verifies in a Sigstore bundle: exactly one of
// message and envelope is set.
type sigBundle struct {
	// keyless is true when the verification material is a certificate (a
	// keyless signature), which hoist does not check offline.
	keyless bool
	// message is a message signature: a signature over the artifact
	// (here, the manifest) whose digest it names.
	message *messageSignature
	// envelope is a DSSE envelope, re-encoded in DSSE's own JSON form for
	// the Sigstore verifier.
	envelope []byte
	// payloadType is the envelope's payload type.
	payloadType string
}

type messageSignature struct {
	algorithm string // protobuf-specs' HashAlgorithm name: SHA2_256
	digest    []byte
	signature []byte
}

// bundleJSON is protobuf-specs' Bundle as protojson writes it (camelCase
// names, bytes in base64), the fields a key needs.
type bundleJSON struct {
	MediaType            string `json:"mediaType"`
	VerificationMaterial *struct {
		PublicKey            *json.RawMessage `json:"publicKey"`
		Certificate          *json.RawMessage `json:"certificate"`
		X509CertificateChain *json.RawMessage `json:"x509CertificateChain"`
	} `json:"verificationMaterial"`
	MessageSignature *struct {
		MessageDigest *struct {
			Algorithm json.RawMessage `json:"algorithm"`
			Digest    string          `json:"digest"`
		} `json:"messageDigest"`
		Signature string `json:"signature"`
	} `json:"messageSignature"`
	DSSEEnvelope *struct {
		Payload     string `json:"payload"`
		PayloadType string `json:"payloadType"`
		Signatures  []struct {
			Sig   string `json:"sig"`
			KeyID string `json:"keyid"`
		} `json:"signatures"`
	} `json:"dsseEnvelope"`
}

// parseBundle parses the JSON of a Sigstore bundle (any of bundleMediaTypes)
// and keeps what a key verifies. It refuses, wrapping errBundle, a bundle of
// another media type, one with no content or both kinds, a DSSE envelope
// without exactly one signature (protobuf-specs requires one), and bytes
// fields that are not base64.
func parseBundle(data []byte) (*sigBundle, error) {
	var j bundleJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("%w: %s", errBundle, jsonErrorWithoutInput(err))
	}
	if !bundleMediaTypes[j.MediaType] {
		return nil, fmt.Errorf("%w: media type %q", errBundle, j.MediaType)
	}
	b := &sigBundle{}
	if vm := j.VerificationMaterial; vm != nil {
		b.keyless = vm.Certificate != nil || vm.X509CertificateChain != nil
	}
	switch {
	case j.MessageSignature != nil && j.DSSEEnvelope != nil:
		return nil, fmt.Errorf("%w: both a message signature and a DSSE envelope", errBundle)
	case j.MessageSignature != nil:
		ms := j.MessageSignature
		if ms.MessageDigest == nil {
			return nil, fmt.Errorf("%w: a message signature without its digest", errBundle)
		}
		alg, err := hashAlgorithm(ms.MessageDigest.Algorithm)
		if err != nil {
			return nil, err
		}
		d, err := decodeBase64(ms.MessageDigest.Digest)
		if err != nil {
			return nil, fmt.Errorf("%w: message digest: %w", errBundle, err)
		}
		sig, err := decodeBase64(ms.Signature)
		if err != nil || len(sig) == 0 {
			return nil, fmt.Errorf("%w: message signature is not base64", errBundle)
		}
		b.message = &messageSignature{algorithm: alg, digest: d, signature: sig}
	case j.DSSEEnvelope != nil:
		env := j.DSSEEnvelope
		if len(env.Signatures) != 1 {
			return nil, fmt.Errorf("%w: a DSSE envelope with %d signatures, not one", errBundle, len(env.Signatures))
		}
		payload, err := decodeBase64(env.Payload)
		if err != nil {
			return nil, fmt.Errorf("%w: DSSE payload: %w", errBundle, err)
		}
		sig, err := decodeBase64(env.Signatures[0].Sig)
		if err != nil || len(sig) == 0 {
			return nil, fmt.Errorf("%w: DSSE signature is not base64", errBundle)
		}
		// DSSE's JSON form, as the verifier reads it.
		b.envelope, err = json.Marshal(map[string]any{
			"payloadType": env.PayloadType,
			"payload":     base64.StdEncoding.EncodeToString(payload),
			"signatures":  []map[string]string{{"sig": base64.StdEncoding.EncodeToString(sig)}},
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBundle, err)
		}
		b.payloadType = env.PayloadType
	default:
		return nil, fmt.Errorf("%w: neither a message signature nor a DSSE envelope", errBundle)
	}
	return b, nil
}

// hashAlgorithm reads protobuf-specs' HashAlgorithm, by name or number.
func hashAlgorithm(raw json.RawMessage) (string, error) {
	var name string
	if err := json.Unmarshal(raw, &name); err == nil {
		return name, nil
	}
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		switch n {
		case 1:
			return "SHA2_256", nil
		case 2:
			return "SHA2_384", nil
		case 3:
			return "SHA2_512", nil
		}
		return fmt.Sprintf("hash algorithm %d", n), nil
	}
	return "", fmt.Errorf("%w: message digest algorithm is neither a name nor a number", errBundle)
}

// decodeBase64 decodes bytes as protojson writes them (standard base64) or
// accepts them (URL-safe, with or without padding).
func decodeBase64(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// inTotoStatement is the part of an in-toto statement (v1 or v0.1) that
// says what is signed.
type inTotoStatement struct {
	Type          string `json:"_type"`
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
}

// checkBundle verifies one Sigstore bundle with the key and checks that it
// signs the digest. It returns why the bundle does not count, or "". The key
// alone decides: the key hint of the bundle is not trusted, and its
// transparency-log entries and timestamps are not required (as with `cosign
// verify --key --insecure-ignore-tlog`).
func (s *sigReader) checkBundle(data []byte) string {
	b, err := parseBundle(data)
	if err != nil {
		return err.Error()
	}
	if b.message != nil {
		return s.checkMessageBundle(b)
	}
	if b.payloadType != inTotoPayloadType {
		return fmt.Sprintf("Sigstore bundle's DSSE payload type %q is not %q", b.payloadType, inTotoPayloadType)
	}
	var payload []byte
	verified := false
	for _, v := range s.key.verifiers {
		w := dsse.WrapVerifier(v, dsse.WithExpectedPayloadType(inTotoPayloadType), dsse.WithDecodedPayload(&payload))
		if w.VerifySignature(bytes.NewReader(b.envelope), nil) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return bundleKeyReason(b)
	}
	var st inTotoStatement
	if err := json.Unmarshal(payload, &st); err != nil || !inTotoStatementTypes[st.Type] {
		return "Sigstore bundle's payload is not an in-toto statement"
	}
	if st.PredicateType != cosignSignPredicate {
		return fmt.Sprintf("Sigstore bundle is an attestation (predicate type %q), not a signature", st.PredicateType)
	}
	other := ""
	for _, sub := range st.Subject {
		h, ok := sub.Digest[s.digest.Algorithm]
		if !ok {
			continue
		}
		if strings.EqualFold(h, s.digest.Hex) {
			return ""
		}
		if other == "" {
			other = s.digest.Algorithm + ":" + h
		}
	}
	if other == "" {
		return fmt.Sprintf("Sigstore bundle's statement names no %s digest", s.digest.Algorithm)
	}
	return fmt.Sprintf("Sigstore bundle signs %s, not this digest", other)
}

// checkMessageBundle checks a message signature: its digest must be the
// manifest's, and the signature must verify over that digest.
func (s *sigReader) checkMessageBundle(b *sigBundle) string {
	m := b.message
	if m.algorithm != "SHA2_256" || s.digest.Algorithm != "sha256" {
		return fmt.Sprintf("Sigstore bundle signs a %s digest, not this %s digest", m.algorithm, s.digest.Algorithm)
	}
	want, err := hex.DecodeString(s.digest.Hex)
	if err != nil {
		return "the digest is not hex"
	}
	if !bytes.Equal(m.digest, want) {
		return fmt.Sprintf("Sigstore bundle signs sha256:%s, not this digest", hex.EncodeToString(m.digest))
	}
	for _, v := range s.key.verifiers {
		// A pure Ed25519 signature is over the manifest itself, not over
		// its digest: this form cannot be checked from the digest.
		if pub, err := v.PublicKey(); err != nil || isEd25519(pub) {
			continue
		}
		if v.VerifySignature(bytes.NewReader(m.signature), nil, sigopts.WithDigest(want)) == nil {
			return ""
		}
	}
	return bundleKeyReason(b)
}

func isEd25519(pub any) bool {
	_, ok := pub.(ed25519.PublicKey)
	return ok
}

// bundleKeyReason says why a bundle's signature does not count.
func bundleKeyReason(b *sigBundle) string {
	if b.keyless {
		return "Sigstore bundle is keyless (a certificate, not verified offline) and does not verify with the key"
	}
	return "Sigstore bundle's signature does not verify with the key"
}
