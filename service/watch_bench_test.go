package service

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkConfigFingerprint is the ConfigWatcher's idle cost: one look at
// a configuration of 500 files in 10 directories.
func BenchmarkConfigFingerprint(b *testing.B) {
	dir := b.TempDir()
	for i := range 500 {
		path := filepath.Join(dir, fmt.Sprintf("team-%d", i%10), fmt.Sprintf("repo-%d.yaml", i))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("kind: ImageRepository\n"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		configFingerprint([]string{dir})
	}
}
