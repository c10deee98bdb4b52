package imagebuild

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// emptyConfig is the OCI empty descriptor's content, the config of an
// artifact manifest.
var emptyConfig = []byte("{}")

// Pushed is what Push wrote: the index's digest and, per platform image,
// the image's digest and its SBOM referrer's.
type Pushed struct {
	Index v1.Hash
	// Images[i] and SBOMs[i] are the digests of Result.Images[i] and of
	// the SBOM manifest that refers to it.
	Images, SBOMs []v1.Hash
}

// Push writes res's index to tag and each platform's SBOM as an OCI
// referrer of its image (an artifact manifest of artifactType
// application/spdx+json whose subject is the image). Registries without the
// referrers API get the referrers tag schema (go-containerregistry's
// fallback tag).
func Push(ctx context.Context, tag name.Tag, res *Result, opts ...remote.Option) (*Pushed, error) {
	opts = append([]remote.Option{remote.WithContext(ctx)}, opts...)
	if err := remote.WriteIndex(tag, res.Index, opts...); err != nil {
		return nil, fmt.Errorf("push %s: %w", tag, err)
	}
	out := &Pushed{}
	var err error
	if out.Index, err = res.Index.Digest(); err != nil {
		return nil, err
	}
	for _, pi := range res.Images {
		desc, err := imageDescriptor(pi.Image)
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", pi.Platform, err)
		}
		d, err := pushSBOM(tag.Context(), desc, pi.SBOM, opts)
		if err != nil {
			return nil, fmt.Errorf("SBOM of %s (%s): %w", pi.Platform, desc.Digest, err)
		}
		out.Images = append(out.Images, desc.Digest)
		out.SBOMs = append(out.SBOMs, d)
	}
	return out, nil
}

func imageDescriptor(img v1.Image) (v1.Descriptor, error) {
	d, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	size, err := img.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: size}, nil
}

// artifact is a manifest to push as is.
type artifact struct{ raw []byte }

func (a artifact) RawManifest() ([]byte, error)        { return a.raw, nil }
func (a artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// SBOMManifest is the artifact manifest of sbom referring to subject.
func SBOMManifest(subject v1.Descriptor, sbom []byte) ([]byte, error) {
	cfg, err := descriptor(emptyConfig, "application/vnd.oci.empty.v1+json")
	if err != nil {
		return nil, err
	}
	layer, err := descriptor(sbom, SBOMMediaType)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  SBOMMediaType,
		Config:        cfg,
		Layers:        []v1.Descriptor{layer},
		Subject:       &subject,
	})
}

func descriptor(b []byte, mt types.MediaType) (v1.Descriptor, error) {
	h, size, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: h, Size: size}, nil
}

func pushSBOM(repo name.Repository, subject v1.Descriptor, sbom []byte, opts []remote.Option) (v1.Hash, error) {
	for _, b := range []struct {
		data []byte
		mt   types.MediaType
	}{{emptyConfig, "application/vnd.oci.empty.v1+json"}, {sbom, SBOMMediaType}} {
		if err := remote.WriteLayer(repo, static.NewLayer(b.data, b.mt), opts...); err != nil {
			return v1.Hash{}, fmt.Errorf("push blob: %w", err)
		}
	}
	raw, err := SBOMManifest(subject, sbom)
	if err != nil {
		return v1.Hash{}, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Put(repo.Digest(h.String()), artifact{raw}, opts...); err != nil {
		return v1.Hash{}, fmt.Errorf("push manifest: %w", err)
	}
	return h, nil
}
