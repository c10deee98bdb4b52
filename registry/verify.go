package registry

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

// CosignKeyKey is the key of a verification secret that holds the cosign
// public key (PEM), as Flux's OCIRepository verification reads it.
const CosignKeyKey = "cosign.pub"

// ErrCosignKey is returned (wrapped) when a cosign public key cannot be read
// or parsed.
var ErrCosignKey = errors.New("invalid cosign public key")

// The media types and annotation of cosign's signatures (its "simple
// signing" form, the one `cosign sign --key` writes).
const (
	cosignSimpleSigningType = "application/vnd.dev.cosign.simplesigning.v1+json"
	cosignSignatureArtifact = "application/vnd.dev.cosign.artifact.sig.v1+json"
	cosignSignatureAnnot    = "dev.cosignproject.cosign/signature"
)

// maxSignatures bounds the signature manifests read for one digest (each
// costs a manifest and a blob request).
const maxSignatures = 16

// CosignKey is a parsed cosign public key (ECDSA, Ed25519 or RSA) that
// verifies signatures. It is safe for concurrent use.
type CosignKey struct {
	verifiers []signature.Verifier
	id        string
}

// ParseCosignKey parses PEM public keys as `cosign generate-key-pair`
// writes them (cosign.pub), one per argument; a signature by any of them
// verifies. Verification uses the Sigstore project's signature package,
// with SHA-256 as cosign does.
func ParseCosignKey(pems ...[]byte) (*CosignKey, error) {
	if len(pems) == 0 {
		return nil, fmt.Errorf("%w: no key", ErrCosignKey)
	}
	k := &CosignKey{}
	ids := make([]string, 0, len(pems))
	for _, p := range pems {
		pub, err := cryptoutils.UnmarshalPEMToPublicKey(bytes.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCosignKey, err)
		}
		v, err := signature.LoadVerifier(pub, crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCosignKey, err)
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCosignKey, err)
		}
		sum := sha256.Sum256(der)
		k.verifiers = append(k.verifiers, v)
		ids = append(ids, hex.EncodeToString(sum[:]))
	}
	slices.Sort(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
	k.id = hex.EncodeToString(sum[:])
	return k, nil
}

// ReadCosignKeySecret reads the cosign public keys of the secret NAME from a
// secrets directory: DIR/NAME/cosign.pub and any other DIR/NAME/*.pub, as
// Flux reads a verification Secret (see docs/verify.md). Its error names
// the file.
func ReadCosignKeySecret(dir, secret string) (*CosignKey, error) {
	if secret == "" || secret == "." || secret == ".." || strings.ContainsAny(secret, `/\`) {
		return nil, fmt.Errorf("reading verification secret %q: %w: not a secret name", secret, ErrCosignKey)
	}
	folder := filepath.Join(dir, secret)
	entries, err := os.ReadDir(folder)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("reading verification secret %q: %s does not exist: %w", secret, filepath.Join(folder, CosignKeyKey), err)
		}
		return nil, fmt.Errorf("reading verification secret %q: %w", secret, err)
	}
	var pems [][]byte
	for _, e := range entries {
		// A mounted Secret's keys are symbolic links to ..data/KEY.
		if !strings.HasSuffix(e.Name(), ".pub") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(folder, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading verification secret %q: %w", secret, err)
		}
		if _, err := ParseCosignKey(data); err != nil {
			return nil, fmt.Errorf("reading verification secret %q from %s: %w", secret, path, err)
		}
		pems = append(pems, data)
	}
	if len(pems) == 0 {
		return nil, fmt.Errorf("reading verification secret %q: %w: %s does not exist (nor any other key ending in .pub)",
			secret, ErrCosignKey, filepath.Join(folder, CosignKeyKey))
	}
	return ParseCosignKey(pems...)
}

// ID is the hex SHA-256 of the keys' DER encodings: verified digests are
// cached under it, so other keys verify afresh.
func (k *CosignKey) ID() string { return k.id }

// Verification is the outcome of Verify for one digest.
type Verification struct {
	// Verified is true when a signature by the key was found for the
	// digest.
	Verified bool
	// Where names the signature that verified ("referrer sha256:...", or
	// "tag sha256-....sig"); empty when Cached or not Verified.
	Where string
	// Reason says why the digest is not verified: no signature at all, or
	// how many were found and why none passed.
	Reason string
	// Cached is true when the result came from the cache of verified
	// digests, with no request.
	Cached bool
}

// verifiedEntry is what the cache keeps per key and verified digest.
type verifiedEntry struct {
	Where string `json:"where"`
}

// Verify reports whether the manifest digest of r carries a cosign
// signature made with key. It looks in both places cosign and OCI 1.1 keep
// signatures: the referrers of the digest (the referrers API, else the
// referrers tag sha256-HEX that registries without the API serve), and the
// tag sha256-HEX.sig. A signature counts when the key verifies it and what
// it signs names the digest: a simple-signing payload (cosign's classic
// form), or a Sigstore bundle (cosign v3's form; see checkBundle).
//
// Verified digests are cached per key (in memory, and in the registry cache
// when there is one): a rescan asks the registry only about new digests. A
// digest found unsigned is not cached, since a signature may be pushed
// later. An error means the registry could not be asked; a digest without a
// valid signature is not an error but a Verification with a Reason.
func (c *Client) Verify(ctx context.Context, r Repo, digest string, key *CosignKey) (Verification, error) {
	h, err := v1.NewHash(digest)
	if err != nil {
		return Verification{}, fmt.Errorf("verifying %s: %w: %q is not a digest", r.Image, ErrInvalidManifest, digest)
	}
	cacheKey := key.id + "/" + digest
	if _, ok := c.verified.Load(cacheKey); ok {
		return Verification{Verified: true, Cached: true}, nil
	}
	var e verifiedEntry
	if c.o.cache.get("get verified", bucketVerified, []byte(cacheKey), &e) {
		c.verified.Store(cacheKey, e.Where)
		return Verification{Verified: true, Cached: true}, nil
	}
	ref, err := c.parseRepo(r)
	if err != nil {
		return Verification{}, err
	}
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	cn, err := c.connect(ctx, ref, ref.Name(), r)
	if err != nil {
		return Verification{}, fmt.Errorf("verifying %s@%s: %w", ref.Name(), digest, err)
	}
	s := sigReader{cn: cn, ref: ref, digest: h, key: key}
	v, err := s.verify(ctx)
	if err != nil {
		return Verification{}, fmt.Errorf("verifying %s@%s: %w", ref.Name(), digest, err)
	}
	if v.Verified {
		c.verified.Store(cacheKey, v.Where)
		c.o.cache.put("put verified", bucketVerified, []byte(cacheKey), verifiedEntry{Where: v.Where})
	}
	return v, nil
}

// sigReader finds and checks the signatures of one digest.
type sigReader struct {
	cn     *conn
	ref    name.Repository
	digest v1.Hash
	key    *CosignKey

	found    int      // signature layers read
	problems []string // why each failed, deduplicated
}

func (s *sigReader) verify(ctx context.Context) (Verification, error) {
	// The referrers first (OCI 1.1, and cosign's newer form), then the
	// .sig tag.
	refs, err := s.referrers(ctx)
	if err != nil {
		return Verification{}, err
	}
	for i, d := range refs {
		if i == maxSignatures {
			break
		}
		if ok, err := s.manifest(ctx, d.Digest.String()); err != nil || ok {
			return Verification{Verified: ok, Where: "referrer " + d.Digest.String()}, err
		}
	}
	tag := s.digest.Algorithm + "-" + s.digest.Hex + ".sig"
	ok, err := s.manifest(ctx, tag)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Verification{}, err
	}
	if ok {
		return Verification{Verified: true, Where: "tag " + tag}, nil
	}
	if s.found == 0 {
		return Verification{Reason: "no cosign signature"}, nil
	}
	return Verification{Reason: fmt.Sprintf("%d cosign %s, none valid for the key: %s",
		s.found, plural(s.found, "signature", "signatures"), strings.Join(s.problems, "; "))}, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// referrers lists the manifests that name the digest as their subject and
// may be cosign signatures: through the referrers API, else (a registry
// without it answers 404) the referrers tag of the OCI 1.1 fallback.
func (s *sigReader) referrers(ctx context.Context) ([]v1.Descriptor, error) {
	u := fmt.Sprintf("%s://%s/v2/%s/referrers/%s", s.ref.Scheme(), s.ref.RegistryStr(), s.ref.RepositoryStr(), s.digest)
	body, header, err := s.cn.do(ctx, http.MethodGet, u, []string{string(types.OCIImageIndex)})
	var he *HTTPError
	if errors.As(err, &he) && (he.StatusCode == http.StatusNotFound || he.StatusCode == http.StatusBadRequest ||
		he.StatusCode == http.StatusMethodNotAllowed) || err == nil && !isIndexType(header.Get("Content-Type")) {
		// No referrers API: the fallback tag.
		body, _, err = s.cn.do(ctx, http.MethodGet, manifestURL(s.ref, s.digest.Algorithm+"-"+s.digest.Hex), []string{string(types.OCIImageIndex)})
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
	}
	if err != nil {
		return nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: referrers of %s: %w", ErrInvalidManifest, s.digest, err)
	}
	var out []v1.Descriptor
	for _, d := range idx.Manifests {
		switch {
		case d.ArtifactType == "", d.ArtifactType == cosignSignatureArtifact, d.ArtifactType == cosignSimpleSigningType:
			out = append(out, d)
		case isBundleType(d.ArtifactType), d.ArtifactType == ociEmptyType:
			// A Sigstore bundle. Its referrer names the statement's
			// predicate type: an attestation (an SBOM, provenance) is
			// skipped unread. The bundle itself decides the others.
			if pt, ok := d.Annotations[bundlePredicateAnnot]; ok && pt != cosignSignPredicate {
				continue
			}
			out = append(out, d)
		}
	}
	return out, nil
}

func isIndexType(ct string) bool {
	ct, _, _ = strings.Cut(ct, ";")
	return strings.TrimSpace(ct) == string(types.OCIImageIndex)
}

// manifest reads the signature manifest at reference (a digest or the .sig
// tag) and reports whether one of its layers is a valid signature of the
// digest by the key.
func (s *sigReader) manifest(ctx context.Context, reference string) (bool, error) {
	f := fetcher{cn: s.cn, ref: s.ref}
	var body []byte
	var err error
	if strings.HasPrefix(reference, s.digest.Algorithm+":") {
		body, err = f.content(ctx, manifestURL(s.ref, reference), reference, manifestAccept)
	} else {
		body, _, err = s.cn.do(ctx, http.MethodGet, manifestURL(s.ref, url.PathEscape(reference)), manifestAccept)
	}
	if err != nil {
		return false, err
	}
	m, ok := parseManifest(body)
	if !ok {
		// Not a signature (another artifact, or garbage): one reason among
		// the others, not a failure of the scan.
		s.problem(fmt.Sprintf("%s is not an image manifest", reference))
		return false, nil
	}
	for i, l := range m.Layers {
		if i == maxSignatures {
			break
		}
		var reason string
		switch sig, ok := l.Annotations[cosignSignatureAnnot]; {
		case l.MediaType == cosignSimpleSigningType && ok:
			s.found++
			blob, err := f.content(ctx, blobURL(s.ref, l.Digest.String()), l.Digest.String(), nil)
			if err != nil {
				return false, fmt.Errorf("signature payload %s: %w", l.Digest, err)
			}
			reason = s.check(sig, blob)
		case isBundleType(string(l.MediaType)):
			s.found++
			if l.Size > maxBundleSize {
				reason = fmt.Sprintf("Sigstore bundle of %d bytes, more than %d", l.Size, maxBundleSize)
				break
			}
			blob, err := f.content(ctx, blobURL(s.ref, l.Digest.String()), l.Digest.String(), nil)
			if err != nil {
				return false, fmt.Errorf("signature bundle %s: %w", l.Digest, err)
			}
			reason = s.checkBundle(blob)
		default:
			continue
		}
		if reason != "" {
			s.problem(reason)
			continue
		}
		return true, nil
	}
	return false, nil
}

// parseManifest parses an image manifest; false when body is not one.
func parseManifest(body []byte) (*v1.Manifest, bool) {
	m, err := v1.ParseManifest(bytes.NewReader(body))
	return m, err == nil
}

func (s *sigReader) problem(p string) {
	for _, q := range s.problems {
		if q == p {
			return
		}
	}
	s.problems = append(s.problems, p)
}

// check verifies one signature (base64, as cosign's annotation holds it)
// over its payload and checks that the payload names the digest. It returns
// why the signature does not count, or "".
func (s *sigReader) check(sig string, pl []byte) string {
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return "signature is not base64"
	}
	verified := false
	for _, v := range s.key.verifiers {
		if v.VerifySignature(bytes.NewReader(raw), bytes.NewReader(pl)) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return "signature does not verify with the key"
	}
	var p payload.SimpleContainerImage
	if err := json.Unmarshal(pl, &p); err != nil {
		return "payload is not a simple-signing document"
	}
	if p.Critical.Type != payload.CosignSignatureType {
		return fmt.Sprintf("payload type %q is not %q", p.Critical.Type, payload.CosignSignatureType)
	}
	if p.Critical.Image.DockerManifestDigest != s.digest.String() {
		return fmt.Sprintf("payload signs %s, not this digest", p.Critical.Image.DockerManifestDigest)
	}
	return ""
}
