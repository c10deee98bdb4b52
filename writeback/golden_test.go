package writeback

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// goldenCase is testdata/CASE/case.yaml.
type goldenCase struct {
	// Selections maps policy keys to references.
	Selections map[string]string `yaml:"selections"`
	// Files are extra files to scan (ScanOptions.Files).
	Files []string `yaml:"files"`
	// Include are the globs of ScanOptions.Include.
	Include []string `yaml:"include"`
	// Outside holds files written next to the root (not under it), by
	// path relative to the root's parent, with their content.
	Outside map[string]string `yaml:"outside"`
	// Symlinks are created under the root: link path -> link target.
	Symlinks map[string]string `yaml:"symlinks"`
	// Errors are the errors expected from the scan, the plan and the write.
	Errors []goldenError `yaml:"errors"`
	// Warnings are the warnings expected from the scan.
	Warnings []goldenError `yaml:"warnings"`
}

type goldenError struct {
	File string `yaml:"file"`
	Line int    `yaml:"line"`
	// Is names the sentinel error, such as ErrUnknownPolicy.
	Is string `yaml:"is"`
}

var sentinels = map[string]error{
	"ErrUnknownPolicy":    ErrUnknownPolicy,
	"ErrInvalidReference": ErrInvalidReference,
	"ErrParse":            ErrParse,
	"ErrUnsupported":      ErrUnsupported,
	"ErrConflict":         ErrConflict,
	"ErrStale":            ErrStale,
	"ErrOutsideRoot":      ErrOutsideRoot,
	"ErrSymlink":          ErrSymlink,
	"ErrVerify":           ErrVerify,
	"ErrDanglingSymlink":  ErrDanglingSymlink,
}

// oldTime is the modification time given to every input file, to tell
// whether a file was rewritten.
var oldTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

// TestGolden runs scan, plan and write over each testdata/CASE/input and
// compares the tree with testdata/CASE/expected byte for byte.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/*/input")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) == 0 {
		t.Fatal("no golden cases")
	}
	for _, in := range dirs {
		dir := filepath.Dir(in)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			runGolden(t, dir)
		})
	}
}

// runGolden runs one case and returns the changes written.
func runGolden(t *testing.T, dir string) []Change {
	t.Helper()
	ctx := context.Background()
	var c goldenCase
	raw, err := os.ReadFile(filepath.Join(dir, "case.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("case.yaml: %v", err)
	}
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	copyTree(t, filepath.Join(dir, "input"), root)
	for p, content := range c.Outside {
		writeFile(t, filepath.Join(tmp, filepath.FromSlash(p)), []byte(content))
	}
	for link, target := range c.Symlinks {
		if err := os.Symlink(filepath.FromSlash(target), filepath.Join(root, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(t, tmp)

	sel := make(Selections, len(c.Selections))
	for k, v := range c.Selections {
		sel[k] = Selection{Ref: v}
	}
	res, err := ScanDir(ctx, root, ScanOptions{Files: c.Files, Include: c.Include})
	if err != nil {
		t.Fatal(err)
	}
	cs := Plan(res.Targets, sel)
	results, err := Write(ctx, root, cs)
	if err != nil {
		t.Fatal(err)
	}

	classify := func(fe *FileError) goldenError {
		g := goldenError{File: fe.File, Line: fe.Line, Is: "?"}
		for name, s := range sentinels {
			if errors.Is(fe, s) {
				g.Is = name
			}
		}
		return g
	}
	var gotWarns []goldenError
	for _, fe := range res.Warnings {
		gotWarns = append(gotWarns, classify(fe))
		t.Logf("warning: %v", fe)
	}
	if diff := cmp.Diff(c.Warnings, gotWarns); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	var written []Change
	for _, r := range results {
		if r.Err == nil {
			written = append(written, r.Changes...)
		}
	}

	var gotErrs []goldenError
	var all []*FileError
	all = append(all, res.Errors...)
	all = append(all, cs.Errors...)
	for _, r := range results {
		if r.Err != nil {
			var fe *FileError
			if !errors.As(r.Err, &fe) {
				t.Fatalf("write error is not a *FileError: %v", r.Err)
			}
			all = append(all, fe)
		}
	}
	for _, fe := range all {
		g := classify(fe)
		if !strings.Contains(fe.Error(), fe.File) {
			t.Errorf("error %q does not name its file", fe)
		}
		gotErrs = append(gotErrs, g)
		t.Logf("error: %v", fe)
	}
	if diff := cmp.Diff(c.Errors, gotErrs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}

	// Every file as expected, byte for byte; nothing else created.
	after := snapshot(t, tmp)
	want := make(map[string][]byte)
	_ = filepath.WalkDir(filepath.Join(dir, "expected"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(filepath.Join(dir, "expected"), p)
			b, _ := os.ReadFile(p)
			want["root/"+filepath.ToSlash(rel)] = b
		}
		return nil
	})
	for p, content := range c.Outside {
		want[p] = []byte(content) // never written
	}
	got := make(map[string][]byte)
	for p, f := range after {
		if f.link == "" {
			got[p] = f.data
		}
	}
	if diff := cmp.Diff(want, got, cmp.Transformer("string", func(b []byte) string { return string(b) })); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	// A file whose bytes did not change was not rewritten at all.
	for p, b := range before {
		a, ok := after[p]
		if !ok {
			t.Errorf("%s disappeared", p)
			continue
		}
		if bytes.Equal(a.data, b.data) && !a.mtime.Equal(b.mtime) {
			t.Errorf("%s was rewritten (mtime %v -> %v) without a change", p, b.mtime, a.mtime)
		}
		if a.mode != b.mode {
			t.Errorf("%s: mode %v -> %v", p, b.mode, a.mode)
		}
	}

	// Running again changes nothing.
	res2, err := ScanDir(ctx, root, ScanOptions{Files: c.Files, Include: c.Include})
	if err != nil {
		t.Fatal(err)
	}
	cs2 := Plan(res2.Targets, rekeyInline(sel, res2.Targets))
	if len(cs2.Changes) != 0 {
		t.Errorf("second run plans changes: %+v", cs2.Changes)
	}
	return written
}

// rekeyInline carries the selections of inline policies over to the keys
// the targets have after their images changed (an inline key holds the
// current image), matching them by repository and shorthand.
func rekeyInline(sel Selections, targets []Target) Selections {
	byRepo := make(map[string]Selection)
	for k, s := range sel {
		if rest, ok := strings.CutPrefix(k, "inline:"); ok {
			img, sh, _ := strings.Cut(rest, "#")
			byRepo[splitRef(img).name+"#"+sh] = s
		}
	}
	out := make(Selections, len(sel))
	for k, s := range sel {
		out[k] = s
	}
	for _, t := range targets {
		if t.Inline != nil {
			if s, ok := byRepo[t.Inline.Repository+"#"+t.Inline.Shorthand]; ok {
				out[t.Policy] = s
			}
		}
	}
	return out
}

type fileState struct {
	data  []byte
	mtime time.Time
	mode  fs.FileMode
	link  string
}

// snapshot records every file under dir by slash path.
func snapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	m := make(map[string]fileState)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		var st fileState
		st.mtime, st.mode = fi.ModTime(), fi.Mode()
		if fi.Mode()&fs.ModeSymlink != 0 {
			st.link, _ = os.Readlink(p)
		} else if st.data, err = os.ReadFile(p); err != nil {
			return err
		}
		m[filepath.ToSlash(rel)] = st
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// copyTree copies the regular files of src to dst with an old mtime.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		writeFile(t, filepath.Join(dst, rel), b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, oldTime, oldTime); err != nil {
		t.Fatal(err)
	}
}
