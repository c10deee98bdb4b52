package testenv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
)

// ImageOptions shapes an image pushed by PushImage.
type ImageOptions struct {
	// Created is the config's "created" time. Zero: random.Image's default
	// (the zero time, which registries serve as 0001-01-01).
	Created time.Time
	// Platform is "os/arch[/variant]". Default: "linux/amd64".
	Platform string
	// Labels are set in the config.
	Labels map[string]string
	// Annotations are set on the manifest.
	Annotations map[string]string
}

// remoteOptions are the go-containerregistry options to push to r.
func (r *Registry) remoteOptions(ctx context.Context) []remote.Option {
	if r.Token != nil && r.Token.onIP {
		// go-containerregistry refuses this realm (a loopback IP literal
		// on another port); push with tokens minted here instead.
		return []remote.Option{remote.WithContext(ctx), remote.WithTransport(&mintTransport{inner: r.client.Transport, ts: r.Token})}
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(r.client.Transport)}
	if r.Username != "" {
		opts = append(opts, remote.WithAuth(&authn.Basic{Username: r.Username, Password: r.Password}))
	}
	return opts
}

// NewImage builds a small random image (one 256-byte layer) shaped by opts.
func NewImage(t testing.TB, opts ImageOptions) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	p := opts.Platform
	if p == "" {
		p = "linux/amd64"
	}
	parts := strings.SplitN(p, "/", 3)
	if len(parts) < 2 {
		t.Fatalf("platform %q is not os/arch[/variant]", p)
	}
	cf.OS, cf.Architecture = parts[0], parts[1]
	if len(parts) == 3 {
		cf.Variant = parts[2]
	}
	if len(opts.Labels) > 0 {
		cf.Config.Labels = opts.Labels
	}
	if !opts.Created.IsZero() {
		cf.Created = v1.Time{Time: opts.Created}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.Annotations) > 0 {
		img = mutate.Annotations(img, opts.Annotations).(v1.Image)
	}
	return img
}

// PushImage pushes a new random image shaped by opts as repo:tag and returns
// its digest.
func (r *Registry) PushImage(t testing.TB, repo, tag string, opts ImageOptions) string {
	t.Helper()
	img := NewImage(t, opts)
	ref, err := name.ParseReference(r.Ref(repo, tag))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, r.remoteOptions(t.Context())...); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// PushIndex pushes an image index with one random image per platform
// ("linux/amd64", "linux/arm64/v8", ...) as repo:tag, each image built at
// created (zero: unset), with the index annotations given, and returns the
// index digest.
func (r *Registry) PushIndex(t testing.TB, repo, tag string, created time.Time, annotations map[string]string, platforms ...string) string {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	for _, p := range platforms {
		img := NewImage(t, ImageOptions{Platform: p, Created: created})
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: img,
			Descriptor: v1.Descriptor{
				Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant},
			},
		})
	}
	if len(annotations) > 0 {
		idx = mutate.Annotations(idx, annotations).(v1.ImageIndex)
	}
	ref, err := name.ParseReference(r.Ref(repo, tag))
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, r.remoteOptions(t.Context())...); err != nil {
		t.Fatalf("pushing index %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// Tag points more tags at an existing manifest digest of repo, over HTTP.
func (r *Registry) Tag(t testing.TB, repo, dgst string, tags ...string) {
	t.Helper()
	src, err := name.ParseReference(r.Ref(repo, dgst))
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(src, r.remoteOptions(t.Context())...)
	if err != nil {
		t.Fatalf("reading %s: %v", src, err)
	}
	for _, tag := range tags {
		dst, err := name.NewTag(r.Ref(repo, tag))
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Tag(dst, desc, r.remoteOptions(t.Context())...); err != nil {
			t.Fatalf("tagging %s: %v", dst, err)
		}
	}
}

// TagMany points many tags at an existing manifest digest of repo, fast:
// it writes the tag links straight into the registry's storage, in the
// layout of Distribution's filesystem driver (registry/storage/paths.go),
// instead of one HTTP PUT per tag. The registry serves them at once.
func (r *Registry) TagMany(t testing.TB, repo, dgst string, tags []string) {
	t.Helper()
	d, err := digest.Parse(dgst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reference.WithName(repo); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(r.root, "docker", "registry", "v2", "repositories", filepath.FromSlash(repo), "_manifests", "tags")
	if _, err := os.Stat(filepath.Join(base, "..", "revisions", string(d.Algorithm()), d.Encoded())); err != nil {
		t.Fatalf("tagging %s: manifest %s is not in the repository: %v", repo, dgst, err)
	}
	link := []byte(d.String())
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(tags); i += workers {
				for _, dir := range []string{
					filepath.Join(base, tags[i], "current"),
					filepath.Join(base, tags[i], "index", string(d.Algorithm()), d.Encoded()),
				} {
					if err := os.MkdirAll(dir, 0o755); err != nil {
						errs <- err
						return
					}
					if err := os.WriteFile(filepath.Join(dir, "link"), link, 0o644); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("tagging %s: %v", repo, err)
	}
}
