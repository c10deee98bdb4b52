//go:build linux

package writeback

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestScanClosesDirectories: the directories the walk opens and shares
// with the workers are all closed after a scan, also one whose context is
// done.
func TestScanClosesDirectories(t *testing.T) {
	root := t.TempDir()
	for d := range 40 {
		for f := range 3 {
			writeFile(t, filepath.Join(root, fmt.Sprintf("d%02d", d), "sub", fmt.Sprintf("f%d.yaml", f)),
				[]byte("image: ghcr.io/example/app:1.0.0 # {\"$imagepolicy\": \"apps:app\"}\n"))
		}
	}
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip(err)
		}
		return len(ents)
	}
	// The first scan may start the runtime's poller (descriptors kept for
	// the process): count after it.
	if _, err := ScanDir(context.Background(), root, ScanOptions{}); err != nil {
		t.Fatal(err)
	}
	before := fds()
	for range 5 {
		res, err := ScanDir(context.Background(), root, ScanOptions{})
		if err != nil || len(res.Targets) != 120 {
			t.Fatalf("%d targets, %v", len(res.Targets), err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ScanDir(ctx, root, ScanOptions{}); err == nil {
		t.Fatal("a scan with a done context succeeded")
	}
	if after := fds(); after > before {
		t.Errorf("%d open descriptors before the scans, %d after", before, after)
	}
}
