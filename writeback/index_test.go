package writeback

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestIndex(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	files := map[string]string{
		"a.yaml":           oneMarker,
		"b.yaml":           "kind: Service\n",
		"sub/c.yml":        oneMarker,
		"sub/d.txt":        oneMarker, // not YAML by name
		".git/e.yaml":      oneMarker, // skipped
		"broken.yaml":      "a: [ # {\"$imagepolicy\": \"ns:a\"}\n",
		"sub/f.yaml":       "kind: ConfigMap\n",
		"extra/g.conf":     oneMarker,
		"sub/.hidden.yaml": oneMarker,
	}
	for p, c := range files {
		writeFile(t, filepath.Join(root, filepath.FromSlash(p)), []byte(c))
	}
	idx := NewIndex(root, ScanOptions{Files: []string{"extra/g.conf"}, Workers: 3})
	targetFiles := func(res ScanResult) []string {
		var fs []string
		for _, t := range res.Targets {
			fs = append(fs, t.File)
		}
		return fs
	}

	res, err := idx.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{"a.yaml", "extra/g.conf", "sub/.hidden.yaml", "sub/c.yml"}
	if diff := cmp.Diff(wantFiles, targetFiles(res)); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	if len(res.Errors) != 1 || res.Errors[0].File != "broken.yaml" || !errors.Is(res.Errors[0], ErrParse) {
		t.Errorf("errors: %v", res.Errors)
	}
	if diff := cmp.Diff(ScanStats{Files: 7, Read: 7, Parsed: 5}, res.Stats); diff != "" {
		t.Errorf("cold stats (-want +got):\n%s", diff)
	}

	// Nothing changed: a full scan reads nothing, a refresh checks only
	// the files with targets or errors.
	res, err = idx.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ScanStats{Files: 7, Read: 1, Parsed: 1}, res.Stats); diff != "" {
		t.Errorf("warm scan stats (-want +got):\n%s", diff) // broken.yaml is read again
	}
	res, err = idx.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ScanStats{Files: 5, Read: 1, Parsed: 1}, res.Stats); diff != "" {
		t.Errorf("refresh stats (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantFiles, targetFiles(res)); diff != "" {
		t.Errorf("refresh targets (-want +got):\n%s", diff)
	}

	// A written file is re-read by Refresh; a new file only when named.
	cs := Plan(res.Targets, Selections{"ns:a": {Ref: "ghcr.io/x/a:2"}})
	if _, err := Write(ctx, root, cs); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "new.yaml"), []byte(oneMarker))
	if err := os.Remove(filepath.Join(root, "sub", "c.yml")); err != nil {
		t.Fatal(err)
	}
	res, err = idx.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a.yaml", "extra/g.conf", "sub/.hidden.yaml"}, targetFiles(res)); diff != "" {
		t.Errorf("after write (-want +got):\n%s", diff)
	}
	for _, tg := range res.Targets {
		if tg.Value != "ghcr.io/x/a:2" {
			t.Errorf("%s: stale value %q", tg.File, tg.Value)
		}
	}
	res, err = idx.Refresh(ctx, "new.yaml", "b.yaml", "sub/d.txt")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a.yaml", "extra/g.conf", "new.yaml", "sub/.hidden.yaml"}, targetFiles(res)); diff != "" {
		t.Errorf("after naming new.yaml (-want +got):\n%s", diff)
	}

	// A saved index, loaded again, reads only what changed since.
	var buf bytes.Buffer
	if err := idx.Save(&buf); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadIndex(&buf, root, ScanOptions{Files: []string{"extra/g.conf"}})
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(root, "b.yaml"), later, later); err != nil {
		t.Fatal(err)
	}
	res, err = loaded.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ScanStats{Files: 7, Read: 2, Parsed: 1}, res.Stats); diff != "" {
		t.Errorf("loaded index stats (-want +got):\n%s", diff) // b.yaml and broken.yaml
	}
	if diff := cmp.Diff([]string{"a.yaml", "extra/g.conf", "new.yaml", "sub/.hidden.yaml"}, targetFiles(res)); diff != "" {
		t.Errorf("loaded index targets (-want +got):\n%s", diff)
	}
}

func TestScanDirErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := ScanDir(ctx, filepath.Join(t.TempDir(), "missing"), ScanOptions{}); err == nil {
		t.Error("scanning a missing root succeeded")
	}
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.yaml"), []byte(oneMarker))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := ScanDir(cctx, root, ScanOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled scan: %v", err)
	}
	res, err := ScanDir(ctx, root, ScanOptions{Files: []string{"missing.conf", "/etc/passwd"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range res.Errors {
		got = append(got, e.File)
	}
	if diff := cmp.Diff([]string{"/etc/passwd", "missing.conf"}, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

// TestScanDirReusesBuffersSafely is a regression test: a worker's read
// buffer, reused from file to file, must not leak one file's bytes into the
// next.
func TestScanDirReusesBuffersSafely(t *testing.T) {
	root := t.TempDir()
	for i, pad := range []int{500, 10, 300, 0, 5000, 1} {
		data := strings.Repeat("# padding\n", pad) + oneMarker
		writeFile(t, filepath.Join(root, fmt.Sprintf("f%d.yaml", i)), []byte(data))
	}
	res, err := ScanDir(context.Background(), root, ScanOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Targets) != 6 || len(res.Errors) != 0 {
		t.Fatalf("targets %d, errors %v", len(res.Targets), res.Errors)
	}
	for _, tg := range res.Targets {
		b, err := os.ReadFile(filepath.Join(root, tg.File))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != tg.Sum {
			t.Errorf("%s: target planned against other bytes", tg.File)
		}
	}
}
