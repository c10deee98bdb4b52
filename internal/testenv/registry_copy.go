package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/distribution/reference"
)

// CopyRepository makes repository dst a copy of src (its tags, manifests
// and layer links), fast: it copies src's metadata in the registry's
// storage, in the layout of Distribution's filesystem driver
// (registry/storage/paths.go), instead of pushing over HTTP. Blobs are
// shared by all repositories of a registry, so nothing big is copied; a
// test can fill hundreds of repositories from one PushImage in a second.
// dst must not exist yet. The registry serves it at once.
func (r *Registry) CopyRepository(t testing.TB, src, dst string) {
	t.Helper()
	for _, name := range []string{src, dst} {
		if _, err := reference.WithName(name); err != nil {
			t.Fatalf("copying repository %s to %s: %v", src, dst, err)
		}
	}
	repos := filepath.Join(r.root, "docker", "registry", "v2", "repositories")
	from := filepath.Join(repos, filepath.FromSlash(src))
	to := filepath.Join(repos, filepath.FromSlash(dst))
	if _, err := os.Stat(to); err == nil {
		t.Fatalf("copying repository %s to %s: %s exists", src, dst, dst)
	}
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, path)
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "_uploads" {
			return fs.SkipDir // uploads in progress belong to src
		}
		target := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("copying repository %s to %s: %v", src, dst, err)
	}
}
