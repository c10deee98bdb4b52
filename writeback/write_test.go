package writeback

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const oneMarker = "image: ghcr.io/x/a:1 # {\"$imagepolicy\": \"ns:a\"}\n"

// planTree writes files under a new root and plans ns:a -> ghcr.io/x/a:2.
func planTree(t *testing.T, files map[string]string) (string, Changeset) {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		writeFile(t, filepath.Join(root, filepath.FromSlash(p)), []byte(c))
	}
	res, err := ScanDir(context.Background(), root, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Fatal(res.Errors)
	}
	return root, Plan(res.Targets, Selections{"ns:a": {Ref: "ghcr.io/x/a:2"}})
}

func TestWriteRefusesStaleFile(t *testing.T) {
	root, cs := planTree(t, map[string]string{"a.yaml": oneMarker, "b.yaml": oneMarker})
	changed := "# edited meanwhile\n" + oneMarker
	writeFile(t, filepath.Join(root, "a.yaml"), []byte(changed))
	results, err := Write(context.Background(), root, cs)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 2 || !errors.Is(results[0].Err, ErrStale) || results[1].Err != nil {
		t.Fatalf("results: %+v", results)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "a.yaml")); string(b) != changed {
		t.Errorf("stale file was written: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "b.yaml")); !strings.Contains(string(b), "a:2") {
		t.Errorf("other file not written: %q", b)
	}
}

func TestWriteKeepsModeAndLeavesNoTemporaryFile(t *testing.T) {
	root, cs := planTree(t, map[string]string{"a.yaml": oneMarker, "dir/b.yaml": oneMarker})
	modes := map[string]fs.FileMode{"a.yaml": 0o600, "dir/b.yaml": 0o755}
	for p, m := range modes {
		if err := os.Chmod(filepath.Join(root, p), m); err != nil {
			t.Fatal(err)
		}
	}
	results, err := Write(context.Background(), root, cs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	for p, m := range modes {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != m {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), m)
		}
	}
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if strings.Contains(d.Name(), ".hoist-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
}

func TestWriteRefusesLinksAndEscapes(t *testing.T) {
	root, cs := planTree(t, map[string]string{"a.yaml": oneMarker, "dir/b.yaml": oneMarker, "c.yaml": oneMarker})
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "a.yaml"), []byte(oneMarker))
	writeFile(t, filepath.Join(outside, "dir", "b.yaml"), []byte(oneMarker))
	// After planning, a.yaml becomes a link and dir a linked directory.
	for _, p := range []string{"a.yaml", "dir"} {
		if err := os.RemoveAll(filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(outside, p), filepath.Join(root, p)); err != nil {
			t.Fatal(err)
		}
	}
	escape := cs.Changes[0]
	escape.File = "../" + filepath.Base(outside) + "/a.yaml"
	cs.Changes = append([]Change{escape}, cs.Changes...)
	results, err := Write(context.Background(), root, cs)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]error{escape.File: ErrOutsideRoot, "a.yaml": ErrSymlink, "dir/b.yaml": ErrSymlink, "c.yaml": nil}
	if len(results) != len(want) {
		t.Fatalf("results: %+v", results)
	}
	for _, r := range results {
		if w := want[r.Path]; (w == nil) != (r.Err == nil) || (w != nil && !errors.Is(r.Err, w)) {
			t.Errorf("%s: error %v, want %v", r.Path, r.Err, w)
		}
	}
	for _, p := range []string{"a.yaml", "dir/b.yaml"} {
		if b, _ := os.ReadFile(filepath.Join(outside, p)); string(b) != oneMarker {
			t.Errorf("file outside the root written through a link: %s", p)
		}
	}
}

func TestPreviewWritesNothing(t *testing.T) {
	root, cs := planTree(t, map[string]string{"a.yaml": oneMarker})
	results, err := Preview(context.Background(), root, cs)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Err != nil || !strings.Contains(string(results[0].New), "a:2") {
		t.Fatalf("results: %+v", results)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "a.yaml")); string(b) != oneMarker {
		t.Errorf("preview wrote the file")
	}
	want := "--- a/a.yaml\n+++ b/a.yaml\n@@ -1 +1 @@\n-" + oneMarker + "+" + strings.Replace(oneMarker, "a:1", "a:2", 1)
	if got := Diff(results[0].Path, results[0].Old, results[0].New); got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
}

func TestApplyRefusesBadSpans(t *testing.T) {
	data := []byte(oneMarker)
	res := Scan([]File{{Path: "a.yaml", Data: data}})
	cs := Plan(res.Targets, Selections{"ns:a": {Ref: "ghcr.io/x/a:2"}})
	c := cs.Changes[0]
	tests := map[string]func(c *Change){
		"stale sum":        func(c *Change) { c.Sum = strings.Repeat("0", 64) },
		"out of range":     func(c *Change) { c.Span.End = len(data) + 1 },
		"unplanned change": func(c *Change) { c.Span.Start -= 2 }, // would rewrite part of the key
		"breaks structure": func(c *Change) { c.Text = "x: y" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			bad := c
			mutate(&bad)
			if _, err := Apply(data, []Change{bad}); err == nil {
				t.Fatal("Apply accepted a bad change")
			}
		})
	}
}
