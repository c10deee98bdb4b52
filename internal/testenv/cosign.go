package testenv

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
)

// SignatureForm says where SignImage puts a cosign signature.
type SignatureForm int

// The places cosign keeps signatures.
const (
	// SignatureTag is cosign's classic form: an image tagged
	// sha256-HEX.sig whose layers are the simple-signing payloads, each
	// with its signature in an annotation.
	SignatureTag SignatureForm = iota
	// SignatureReferrer is the OCI 1.1 form (cosign's
	// --registry-referrers-mode=oci-1-1): the same image, pushed by digest
	// with the signed image as its subject, so that the referrers API (or,
	// on a registry without it, the referrers tag sha256-HEX) lists it.
	SignatureReferrer
)

// CosignKey is an ECDSA P-256 key pair made by the test, as
// `cosign generate-key-pair` makes them.
type CosignKey struct {
	Private *ecdsa.PrivateKey
	// PublicPEM is the public key as cosign.pub holds it.
	PublicPEM []byte
}

// NewCosignKey generates a key pair.
func NewCosignKey(t testing.TB) *CosignKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &CosignKey{Private: priv, PublicPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}
}

// WriteSecret writes the public key as the secret NAME of a secrets
// directory (DIR/NAME/cosign.pub), as a mounted Kubernetes Secret has it.
func (k *CosignKey) WriteSecret(t testing.TB, dir, secret string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, secret), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, secret, "cosign.pub"), k.PublicPEM, 0o600); err != nil {
		t.Fatal(err)
	}
}

// SignImage signs the manifest digest of repository repo (a full reference
// without tag: "127.0.0.1:PORT/apps/web") with key, as `cosign sign --key`
// does, and pushes the signature in form with opts (the registry's
// transport and credentials).
func SignImage(t testing.TB, repo, digest string, key *CosignKey, form SignatureForm, opts ...remote.Option) {
	t.Helper()
	payload, err := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]string{"docker-reference": repo},
			"image":    map[string]string{"docker-manifest-digest": digest},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key.Private, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	layer := static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json")
	img, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:       layer,
		Annotations: map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	h, err := v1.NewHash(digest)
	if err != nil {
		t.Fatal(err)
	}
	var ref name.Reference
	switch form {
	case SignatureTag:
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		ref, err = name.NewTag(repo+":"+h.Algorithm+"-"+h.Hex+".sig", name.Insecure)
	case SignatureReferrer:
		img = mutate.ConfigMediaType(img, "application/vnd.dev.cosign.artifact.sig.v1+json")
		subject, serr := remote.Head(mustDigestRef(t, repo, digest), opts...)
		if serr != nil {
			t.Fatalf("reading the subject %s@%s: %v", repo, digest, serr)
		}
		img = mutate.Subject(img, *subject).(v1.Image)
		var d v1.Hash
		if d, err = img.Digest(); err == nil {
			ref, err = name.NewDigest(repo+"@"+d.String(), name.Insecure)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatalf("pushing the signature %s: %v", ref, err)
	}
}

func mustDigestRef(t testing.TB, repo, digest string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(repo+"@"+digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// Sign signs repo@digest of this registry with key, in form (see
// SignImage).
func (r *Registry) Sign(t testing.TB, repo, digest string, key *CosignKey, form SignatureForm) {
	t.Helper()
	SignImage(t, r.Host+"/"+repo, digest, key, form, r.remoteOptions(t.Context())...)
}

// The Sigstore bundle form (cosign v3's default).
const (
	bundleMediaType     = "application/vnd.dev.sigstore.bundle.v0.3+json"
	cosignSignPredicate = "https://sigstore.dev/cosign/sign/v1"
	inTotoPayloadType   = "application/vnd.in-toto+json"
)

// BundleOptions shapes the Sigstore bundle of SignImageBundle. The zero
// value is what `cosign sign --key` of cosign v3 writes: a DSSE envelope
// over an in-toto statement whose subject is the signed digest, in a
// referrer whose artifactType is the bundle media type.
type BundleOptions struct {
	// Subject is the digest the statement (or message signature) names.
	// Default: the signed digest.
	Subject string
	// PredicateType is the statement's. Default: cosign's signature
	// predicate, https://sigstore.dev/cosign/sign/v1.
	PredicateType string
	// MessageSignature makes a bundle holding a message signature over the
	// manifest (`cosign sign-blob --bundle` of it) instead of a DSSE
	// envelope.
	MessageSignature bool
	// TamperPayload changes the statement after it was signed.
	TamperPayload bool
	// NoArtifactType pushes the referrer without its artifactType, as
	// cosign did before sigstore/cosign issue 4422 was fixed: registries
	// then list it under the empty config's media type.
	NoArtifactType bool
}

// NewSigstoreBundle signs digest with key as cosign v3 does and returns the
// bundle's JSON (protobuf-specs' Bundle v0.3 as protojson writes it).
func NewSigstoreBundle(t testing.TB, digest string, key *CosignKey, o BundleOptions) []byte {
	t.Helper()
	subject := digest
	if o.Subject != "" {
		subject = o.Subject
	}
	h, err := v1.NewHash(subject)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.Private.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	hint := sha256.Sum256(der)
	bundle := map[string]any{
		"mediaType": bundleMediaType,
		"verificationMaterial": map[string]any{
			"publicKey": map[string]string{"hint": base64.StdEncoding.EncodeToString(hint[:])},
		},
	}
	if o.MessageSignature {
		raw, err := hex.DecodeString(h.Hex)
		if err != nil {
			t.Fatal(err)
		}
		sig, err := ecdsa.SignASN1(rand.Reader, key.Private, raw)
		if err != nil {
			t.Fatal(err)
		}
		bundle["messageSignature"] = map[string]any{
			"messageDigest": map[string]string{"algorithm": "SHA2_256", "digest": base64.StdEncoding.EncodeToString(raw)},
			"signature":     base64.StdEncoding.EncodeToString(sig),
		}
	} else {
		predicate := cosignSignPredicate
		if o.PredicateType != "" {
			predicate = o.PredicateType
		}
		statement, err := json.Marshal(map[string]any{
			"_type":         "https://in-toto.io/Statement/v1",
			"subject":       []map[string]any{{"digest": map[string]string{h.Algorithm: h.Hex}, "annotations": map[string]any{}}},
			"predicateType": predicate,
			"predicate":     map[string]any{},
		})
		if err != nil {
			t.Fatal(err)
		}
		sv, err := signature.LoadECDSASignerVerifier(key.Private, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := dsse.WrapSigner(sv, inTotoPayloadType).SignMessage(bytes.NewReader(statement))
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			PayloadType string `json:"payloadType"`
			Payload     string `json:"payload"`
			Signatures  []struct {
				Sig string `json:"sig"`
			} `json:"signatures"`
		}
		if err := json.Unmarshal(signed, &env); err != nil || len(env.Signatures) != 1 {
			t.Fatalf("DSSE envelope %s: %v", signed, err)
		}
		if o.TamperPayload {
			tampered := bytes.Replace(statement, []byte(`"predicate":{}`), []byte(`"predicate":{"x":1}`), 1)
			env.Payload = base64.StdEncoding.EncodeToString(tampered)
		}
		bundle["dsseEnvelope"] = map[string]any{
			"payload":     env.Payload,
			"payloadType": env.PayloadType,
			"signatures":  []map[string]string{{"sig": env.Signatures[0].Sig}},
		}
	}
	data, err := json.Marshal(bundle)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// SignImageBundle signs the manifest digest of repository repo (a full
// reference without tag) with key in the Sigstore bundle form, as cosign v3
// `sign --key` does, and pushes the bundle as a referrer of the digest with
// opts (the registry's transport and credentials): through the registry's
// referrers API, or, on a registry without it, the referrers tag sha256-HEX
// that go-containerregistry maintains.
func SignImageBundle(t testing.TB, repo, digest string, key *CosignKey, o BundleOptions, opts ...remote.Option) {
	t.Helper()
	PushSigstoreBundle(t, repo, digest, NewSigstoreBundle(t, digest, key, o), o, opts...)
}

// PushSigstoreBundle pushes bundle as a referrer of repo@digest, laid out as
// cosign's bundle specification (specs/BUNDLE_SPEC.md) says: an image
// manifest with the empty config, the bundle as its only layer, the digest
// as its subject.
func PushSigstoreBundle(t testing.TB, repo, digest string, bundle []byte, o BundleOptions, opts ...remote.Option) {
	t.Helper()
	r, err := name.NewRepository(repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	subject, err := remote.Head(mustDigestRef(t, repo, digest), opts...)
	if err != nil {
		t.Fatalf("reading the subject %s@%s: %v", repo, digest, err)
	}
	config := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	layer := static.NewLayer(bundle, bundleMediaType)
	for _, l := range []v1.Layer{config, layer} {
		if err := remote.WriteLayer(r, l, opts...); err != nil {
			t.Fatalf("pushing a bundle blob: %v", err)
		}
	}
	desc := func(l v1.Layer) map[string]any {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		size, err := l.Size()
		if err != nil {
			t.Fatal(err)
		}
		mt, err := l.MediaType()
		if err != nil {
			t.Fatal(err)
		}
		return map[string]any{"mediaType": mt, "digest": d.String(), "size": size}
	}
	predicate := cosignSignPredicate
	if o.PredicateType != "" {
		predicate = o.PredicateType
	}
	content := "dsse-envelope"
	if o.MessageSignature {
		content = "message-signature"
	}
	ld := desc(layer)
	ld["annotations"] = map[string]string{"org.opencontainers.image.title": strings.Replace(ld["digest"].(string), ":", "-", 1) + ".sigstore.json"}
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIManifestSchema1,
		"config":        desc(config),
		"layers":        []any{ld},
		"subject":       map[string]any{"mediaType": subject.MediaType, "digest": subject.Digest.String(), "size": subject.Size},
		"annotations": map[string]string{
			"dev.sigstore.bundle.content":       content,
			"dev.sigstore.bundle.predicateType": predicate,
			"org.opencontainers.image.created":  "2026-01-02T03:04:05Z",
		},
	}
	if !o.NoArtifactType {
		m["artifactType"] = bundleMediaType
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(r.Digest(d.String()), rawManifest(raw), opts...); err != nil {
		t.Fatalf("pushing the bundle referrer of %s@%s: %v", repo, digest, err)
	}
}

// rawManifest is an OCI image manifest pushed byte for byte.
type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// SignBundle signs repo@digest of this registry with key in the Sigstore
// bundle form (see SignImageBundle).
func (r *Registry) SignBundle(t testing.TB, repo, digest string, key *CosignKey, o BundleOptions) {
	t.Helper()
	SignImageBundle(t, r.Host+"/"+repo, digest, key, o, r.remoteOptions(t.Context())...)
}
