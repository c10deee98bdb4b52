package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
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
