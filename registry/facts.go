package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Need says which facts a caller asks Facts for. It mirrors policy.Need.
type Need struct {
	Digest    bool
	Created   bool
	Platforms bool
}

// Facts are what a registry knows about a tag.
type Facts struct {
	// Digest is the tag's manifest (or index) digest, "sha256:...".
	Digest string
	// Created is the build time: the image config's "created", else its
	// org.opencontainers.image.created label, else that annotation of the
	// manifest. A config "created" at or before the Unix epoch (reproducible
	// builds write 1970-01-01) counts as absent. Zero when unknown. For an
	// index: its own annotation, else the build time of its linux/amd64
	// image (else its first image).
	Created time.Time
	// Platforms are "os/arch" or "os/arch/variant": the one of an image,
	// every platform of an index (attestations excluded).
	Platforms []string
}

// createdAnnotation is the OCI annotation (and label) of the build time.
const createdAnnotation = "org.opencontainers.image.created"

// manifestAccept lists the manifest media types asked for.
var manifestAccept = []string{
	string(types.OCIManifestSchema1),
	string(types.OCIImageIndex),
	string(types.DockerManifestSchema2),
	string(types.DockerManifestList),
}

// Digest resolves a tag to its manifest digest, always asking the registry:
// HEAD first (Docker Hub does not count it against its pull limit), GET when
// the HEAD gives no usable digest.
func (c *Client) Digest(ctx context.Context, r Repo, tag string) (string, error) {
	ref, err := c.parseRepo(r)
	if err != nil {
		return "", err
	}
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	d, _, err := c.resolve(ctx, ref, r, tag)
	if err != nil {
		return "", fmt.Errorf("resolving %s:%s: %w", ref.Name(), tag, err)
	}
	return d, nil
}

// Facts returns what need asks about a tag. Asked only for the digest, it
// is Digest. Asked for build time or platforms, it uses the tag's digest
// from the cache when younger than WithTagTTL (else HEAD), then the facts
// cached for that digest, fetching the manifest and config only for a digest
// never seen before: a rescan costs nothing for tags it already knows.
func (c *Client) Facts(ctx context.Context, r Repo, tag string, need Need) (Facts, error) {
	if !need.Created && !need.Platforms {
		d, err := c.Digest(ctx, r, tag)
		return Facts{Digest: d}, err
	}
	ref, err := c.parseRepo(r)
	if err != nil {
		return Facts{}, err
	}
	ctx, cancel := withTimeout(ctx, r.Timeout)
	defer cancel()
	f, err := c.facts(ctx, ref, r, tag, need)
	if err != nil {
		return Facts{}, fmt.Errorf("reading facts of %s:%s: %w", ref.Name(), tag, err)
	}
	return f, nil
}

func (c *Client) facts(ctx context.Context, ref name.Repository, r Repo, tag string, need Need) (Facts, error) {
	var (
		digest   string
		manifest []byte
		fresh    bool
	)
	if e, ok := c.o.cache.tagDigest(ref.Name(), tag); ok && c.o.clock.Now().Sub(e.At) < c.o.tagTTL {
		digest = e.Digest
	} else {
		var err error
		digest, manifest, err = c.resolve(ctx, ref, r, tag)
		if err != nil {
			return Facts{}, err
		}
		fresh = true
	}
	f, err := c.factsOf(ctx, ref, r, digest, manifest, need)
	if errors.Is(err, ErrNotFound) && !fresh {
		// The tag moved and its old manifest is gone: ask again.
		digest, manifest, err = c.resolve(ctx, ref, r, tag)
		if err != nil {
			return Facts{}, err
		}
		f, err = c.factsOf(ctx, ref, r, digest, manifest, need)
	}
	return f, err
}

// resolve asks the registry for a tag's digest (HEAD, else GET) and
// remembers it. The manifest is returned when a GET was needed.
func (c *Client) resolve(ctx context.Context, ref name.Repository, r Repo, tag string) (string, []byte, error) {
	if !validTag(tag) {
		return "", nil, fmt.Errorf("%w %q", ErrInvalidTag, tag)
	}
	cn, err := c.connect(ctx, ref, ref.Name(), r)
	if err != nil {
		return "", nil, err
	}
	u := manifestURL(ref, tag)
	_, header, err := cn.do(ctx, http.MethodHead, u, manifestAccept)
	var digest string
	var manifest []byte
	if err == nil && validDigest(header.Get("Docker-Content-Digest")) {
		digest = header.Get("Docker-Content-Digest")
	} else {
		// GET when the HEAD answered without a digest or was refused as a
		// method; not after a missing tag, a refusal of credentials or a
		// failure that retries did not cure.
		var he *HTTPError
		if err != nil && (!errors.As(err, &he) || he.Temporary() ||
			errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnauthorized)) {
			return "", nil, err
		}
		body, header, err := cn.do(ctx, http.MethodGet, u, manifestAccept)
		if err != nil {
			return "", nil, err
		}
		digest = sha256Digest(body)
		if h := header.Get("Docker-Content-Digest"); validDigest(h) && !strings.HasPrefix(h, "sha256:") {
			digest = h
		}
		manifest = body
	}
	c.o.cache.putTagDigest(ref.Name(), tag, tagDigestEntry{Digest: digest, At: c.o.clock.Now()})
	return digest, manifest, nil
}

// validTag checks the OCI distribution grammar of a tag:
// [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
func validTag(tag string) bool {
	if tag == "" || len(tag) > 128 {
		return false
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		word := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
		if !word && (i == 0 || (c != '.' && c != '-')) {
			return false
		}
	}
	return true
}

func manifestURL(ref name.Repository, reference string) string {
	return fmt.Sprintf("%s://%s/v2/%s/manifests/%s", ref.Scheme(), ref.RegistryStr(), ref.RepositoryStr(), reference)
}

func blobURL(ref name.Repository, digest string) string {
	return fmt.Sprintf("%s://%s/v2/%s/blobs/%s", ref.Scheme(), ref.RegistryStr(), ref.RepositoryStr(), digest)
}

func validDigest(d string) bool {
	_, err := v1.NewHash(d)
	return err == nil
}

func sha256Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// factsOf returns the facts of a digest from the cache, or fetches what is
// missing and caches it. manifest, when not nil, is the digest's content.
func (c *Client) factsOf(ctx context.Context, ref name.Repository, r Repo, digest string, manifest []byte, need Need) (Facts, error) {
	e, _ := c.o.cache.facts(digest)
	if (!need.Created || e.HasCreated) && (!need.Platforms || e.HasPlatforms) {
		return Facts{Digest: digest, Created: e.Created, Platforms: e.Platforms}, nil
	}
	cn, err := c.connect(ctx, ref, ref.Name(), r)
	if err != nil {
		return Facts{}, err
	}
	f := fetcher{cn: cn, ref: ref, cache: c.o.cache}
	if manifest == nil {
		if manifest, err = f.content(ctx, manifestURL(ref, digest), digest, manifestAccept); err != nil {
			return Facts{}, err
		}
	}
	fetched, err := f.facts(ctx, manifest, need.Created || e.HasCreated)
	if err != nil {
		return Facts{}, fmt.Errorf("%s: %w", digest, err)
	}
	c.o.cache.putFacts(digest, fetched)
	return Facts{Digest: digest, Created: fetched.Created, Platforms: fetched.Platforms}, nil
}

// fetcher reads manifests and configs of one repository.
type fetcher struct {
	cn    *conn
	ref   name.Repository
	cache *Cache
}

// content GETs content addressed by digest and checks it.
func (f fetcher) content(ctx context.Context, u, digest string, accept []string) ([]byte, error) {
	body, _, err := f.cn.do(ctx, http.MethodGet, u, accept)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(digest, "sha256:") && sha256Digest(body) != digest {
		return nil, fmt.Errorf("%w: content of %s does not match its digest", ErrInvalidManifest, digest)
	}
	return body, nil
}

// manifestHead holds the fields that tell an index from an image manifest.
type manifestHead struct {
	MediaType string            `json:"mediaType"`
	Manifests json.RawMessage   `json:"manifests"`
	Config    json.RawMessage   `json:"config"`
	Annots    map[string]string `json:"annotations"`
}

// facts reads the facts of a manifest: platforms always, the build time of
// an index only when needCreated (it costs two more requests).
func (f fetcher) facts(ctx context.Context, manifest []byte, needCreated bool) (factsEntry, error) {
	var head manifestHead
	if err := json.Unmarshal(manifest, &head); err != nil {
		return factsEntry{}, fmt.Errorf("%w: %s", ErrInvalidManifest, jsonErrorWithoutInput(err))
	}
	switch {
	case head.Manifests != nil:
		return f.indexFacts(ctx, manifest, needCreated)
	case head.Config != nil:
		return f.imageFacts(ctx, manifest)
	}
	return factsEntry{}, fmt.Errorf("%w: media type %q is neither an image nor an index", ErrInvalidManifest, head.MediaType)
}

func (f fetcher) imageFacts(ctx context.Context, manifest []byte) (factsEntry, error) {
	m, err := v1.ParseManifest(bytes.NewReader(manifest))
	if err != nil {
		return factsEntry{}, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	e := factsEntry{HasCreated: true, HasPlatforms: true}
	if !m.Config.MediaType.IsConfig() {
		// An artifact (signature, SBOM): no build time or platform.
		if t, ok := parseCreated(m.Annotations[createdAnnotation]); ok {
			e.Created = t
		}
		return e, nil
	}
	d := m.Config.Digest.String()
	body, err := f.content(ctx, blobURL(f.ref, d), d, nil)
	if err != nil {
		return factsEntry{}, fmt.Errorf("config %s: %w", d, err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(body))
	if err != nil {
		return factsEntry{}, fmt.Errorf("%w: config %s: %w", ErrInvalidManifest, d, err)
	}
	e.Created = buildTime(cfg, m.Annotations)
	if p := platformString(cfg.OS, cfg.Architecture, cfg.Variant); p != "" {
		e.Platforms = []string{p}
	}
	return e, nil
}

// buildTime applies the order documented on Facts.Created.
func buildTime(cfg *v1.ConfigFile, annotations map[string]string) time.Time {
	if t := cfg.Created.Time; t.Unix() > 0 {
		return t.UTC()
	}
	if t, ok := parseCreated(cfg.Config.Labels[createdAnnotation]); ok {
		return t
	}
	if t, ok := parseCreated(annotations[createdAnnotation]); ok {
		return t
	}
	return time.Time{}
}

func parseCreated(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil || t.Unix() <= 0 {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func platformString(os, arch, variant string) string {
	if os == "" || arch == "" || os == "unknown" || arch == "unknown" {
		return ""
	}
	if variant != "" {
		return os + "/" + arch + "/" + variant
	}
	return os + "/" + arch
}

func (f fetcher) indexFacts(ctx context.Context, manifest []byte, needCreated bool) (factsEntry, error) {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(manifest))
	if err != nil {
		return factsEntry{}, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	e := factsEntry{HasPlatforms: true}
	var images []v1.Descriptor
	for _, d := range idx.Manifests {
		if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" || d.Platform == nil {
			continue
		}
		p := platformString(d.Platform.OS, d.Platform.Architecture, d.Platform.Variant)
		if p == "" {
			continue
		}
		images = append(images, d)
		if !slices.Contains(e.Platforms, p) {
			e.Platforms = append(e.Platforms, p)
		}
	}
	if t, ok := parseCreated(idx.Annotations[createdAnnotation]); ok {
		e.Created, e.HasCreated = t, true
		return e, nil
	}
	if !needCreated {
		return e, nil
	}
	e.HasCreated = true
	if len(images) == 0 {
		return e, nil
	}
	child := images[0]
	for _, d := range images {
		if d.Platform.OS == "linux" && d.Platform.Architecture == "amd64" {
			child = d
			break
		}
	}
	cd := child.Digest.String()
	if ce, ok := f.cache.facts(cd); ok && ce.HasCreated {
		e.Created = ce.Created
		return e, nil
	}
	body, err := f.content(ctx, manifestURL(f.ref, cd), cd, manifestAccept)
	if err != nil {
		return factsEntry{}, fmt.Errorf("image %s of the index: %w", cd, err)
	}
	ce, err := f.imageFacts(ctx, body)
	if err != nil {
		return factsEntry{}, fmt.Errorf("image %s of the index: %w", cd, err)
	}
	f.cache.putFacts(cd, ce)
	e.Created = ce.Created
	return e, nil
}
