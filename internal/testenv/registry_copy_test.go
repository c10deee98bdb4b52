package testenv

import (
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestCopyRepository(t *testing.T) {
	reg := NewRegistry(t, RegistryOptions{})
	d := reg.PushImage(t, "src/app", "1.0.0", ImageOptions{})
	reg.Tag(t, "src/app", d, "1.1.0")
	reg.CopyRepository(t, "src/app", "dst/app")

	repo, err := name.NewRepository(reg.Ref("dst/app", ""))
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(repo, reg.remoteOptions(t.Context())...)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1.0.0", "1.1.0"}, tags); diff != "" {
		t.Errorf("tags of the copy (-want +got):\n%s", diff)
	}
	// The copy serves the image, layers included, and takes new tags.
	img, err := remote.Image(repo.Tag("1.1.0"), reg.remoteOptions(t.Context())...)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := img.Digest(); err != nil || got.String() != d {
		t.Errorf("digest of dst/app:1.1.0 = %v, %v; want %s", got, err, d)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("reading a layer of the copy: %v", err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			t.Fatalf("reading a layer of the copy: %v", err)
		}
		_ = rc.Close()
	}
	reg.Tag(t, "dst/app", d, "2.0.0")
	if tags, err := remote.List(repo, reg.remoteOptions(t.Context())...); err != nil || len(tags) != 3 {
		t.Errorf("tags of the copy after a push: %v, %v", tags, err)
	}
	if tags, err := remote.List(repo.Repo("src", "app"), reg.remoteOptions(t.Context())...); err != nil || len(tags) != 2 {
		t.Errorf("tags of the source after a push to the copy: %v, %v", tags, err)
	}
}
