package writeback

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/gobwas/glob"
)

// ScanOptions configure ScanDir and an Index.
type ScanOptions struct {
	// Files names files to scan besides the .yaml and .yml files of the
	// tree, whatever their names: paths relative to the root, or absolute
	// paths inside it. They are read as YAML.
	Files []string
	// Include are globs of slash paths relative to the root (gobwas/glob
	// syntax with / as the separator: * stays in a directory, ** crosses
	// them) of more files to read for markers in comments, whatever their
	// names, besides the text files read by name (see
	// docs/markers-and-annotations.md). A YAML file stays YAML.
	Include []string
	// Workers is the number of concurrent readers. Default: twice
	// runtime.GOMAXPROCS(0).
	Workers int
}

// CompileInclude compiles the globs of ScanOptions.Include; the error
// names the first that does not compile.
func CompileInclude(globs []string) ([]glob.Glob, error) {
	var out []glob.Glob
	for _, p := range globs {
		g, err := glob.Compile(strings.TrimPrefix(p, "./"), '/')
		if err != nil {
			return nil, fmt.Errorf("include glob %q: %w", p, err)
		}
		out = append(out, g)
	}
	return out, nil
}

// formatOf returns the format of the file at rel, with the index's
// include globs.
func (x *Index) formatOf(rel string, explicit bool) format {
	return formatOf(rel, explicit, x.include)
}

// formatIn is formatOf for the file name of a walk, whose slash path rel
// is built only when include globs need it (the walk looks at every file
// of the tree).
func (x *Index) formatIn(name string, rel func() string, explicit bool) format {
	if len(x.include) == 0 {
		return formatFor(name, explicit)
	}
	return formatOf(rel(), explicit, x.include)
}

// ScanDir walks root and finds the targets of its YAML files (*.yaml,
// *.yml and Kustomization; skipping .git directories) and of the files opts
// names. Files are read concurrently and parsed only when a byte search
// says they may hold a target. A symbolic link is not followed: one that
// leads outside root is reported (ErrOutsideRoot) when it has the name of a
// file hoist reads or leads to a directory; one that stays inside is
// skipped, since its target is scanned under its own name; a dangling one
// with the name of a file hoist reads is skipped with a warning
// (ErrDanglingSymlink in ScanResult.Warnings). The error is for the scan as
// a whole (root cannot be walked, ctx is done); the failures of single
// files are in ScanResult.Errors.
func ScanDir(ctx context.Context, root string, opts ScanOptions) (ScanResult, error) {
	x := NewIndex(root, opts)
	x.keepAll = false
	return x.Scan(ctx)
}

// Index remembers what the last scan of a tree found: the size and
// modification time of every file, and the targets of those that hold any.
// A later Scan reads only the files whose size or modification time changed;
// Refresh does not even walk the tree. An Index is what a long-running
// service keeps in memory between runs (and may persist with Save). It is
// safe for concurrent use; scans are serialised.
//
// Like Git's index, it trusts size and modification time: a file rewritten
// with the same size within the file system's timestamp resolution looks
// unchanged. Write never acts on such a stale view: it compares each file's
// bytes with the hash they were scanned with (ErrStale).
type Index struct {
	root string
	opts ScanOptions
	// include are opts.Include compiled; includeErr is why they did not
	// compile, returned by every scan.
	include    []glob.Glob
	includeErr error
	// keepAll keeps an entry for every file (so that the next Scan can skip
	// reading unchanged ones); ScanDir, which scans once, keeps only the
	// entries that hold targets or errors.
	keepAll bool

	mu      sync.Mutex
	scanned bool
	entries map[string]*entry
	hot     map[string]*entry // the entries with targets or an error
}

// entry is what the index knows of one file.
type entry struct {
	Size     int64      `json:"size"`
	ModTime  int64      `json:"mtime"` // UnixNano
	Explicit bool       `json:"explicit,omitempty"`
	Targets  []Target   `json:"targets,omitempty"`
	Err      *FileError `json:"-"`
	Warn     *FileError `json:"-"` // skipped with a warning
}

func (e *entry) isHot() bool {
	return e != nil && (len(e.Targets) > 0 || e.Err != nil || e.Warn != nil)
}

// NewIndex returns an empty index of the tree at root.
func NewIndex(root string, opts ScanOptions) *Index {
	x := &Index{root: root, opts: opts, keepAll: true}
	x.include, x.includeErr = CompileInclude(opts.Include)
	return x
}

// Scan walks the tree and returns every target, reading only the files that
// are new or whose size or modification time changed since the last scan.
func (x *Index) Scan(ctx context.Context) (ScanResult, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.includeErr != nil {
		return ScanResult{}, x.includeErr
	}
	rootReal, err := realRoot(x.root)
	if err != nil {
		return ScanResult{}, err
	}
	extra, extraErrs := x.extraFiles(rootReal)
	jobs := make(chan job, 256)
	walkErr := make(chan error, 1)
	go func() {
		defer close(jobs)
		walkErr <- x.walk(ctx, rootReal, extra, jobs)
	}()
	outs := x.run(ctx, jobs)
	if err := <-walkErr; err != nil {
		return ScanResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return ScanResult{}, err
	}
	entries := make(map[string]*entry, len(x.entries))
	hot := make(map[string]*entry)
	var st ScanStats
	for _, o := range outs {
		st.Files++
		st.Read += o.read
		st.Parsed += o.parsed
		if o.gone || o.e == nil {
			continue
		}
		entries[o.rel] = o.e
		if o.e.isHot() {
			hot[o.rel] = o.e
		}
	}
	for _, fe := range extraErrs {
		hot[fe.File] = &entry{Err: fe}
	}
	x.entries, x.hot, x.scanned = entries, hot, true
	res := x.result()
	res.Stats = st
	return res, nil
}

// Refresh returns every target without walking the tree: it checks (by
// size and modification time) only the files known to hold targets or
// errors, and the paths named in changed (relative to the root, such as the
// paths a Git pull changed), and reads those that changed. Use it when
// nothing else in the tree can have changed: a file that gains its first
// target is found only when named in changed, or by the next Scan. Refresh
// on an index that never scanned runs Scan.
func (x *Index) Refresh(ctx context.Context, changed ...string) (ScanResult, error) {
	x.mu.Lock()
	if !x.scanned {
		x.mu.Unlock()
		return x.Scan(ctx)
	}
	defer x.mu.Unlock()
	rootReal, err := realRoot(x.root)
	if err != nil {
		return ScanResult{}, err
	}
	explicit := make(map[string]bool, len(x.opts.Files))
	for _, f := range x.opts.Files {
		if rel, err := relPath(rootReal, f); err == nil {
			explicit[rel] = true
		}
	}
	todo := make(map[string]bool, len(x.hot)+len(changed))
	for rel := range x.hot {
		todo[rel] = true
	}
	for _, c := range changed {
		rel, err := relPath(rootReal, c)
		if err != nil {
			continue
		}
		if explicit[rel] || x.formatOf(rel, false) != nil {
			todo[rel] = true
		}
	}
	// One job per directory, so that its files are opened relative to it.
	byDir := make(map[string]*job)
	for _, rel := range sortedKeys(todo) {
		fj := fileJob(rootReal, rel, explicit[rel] || x.entries[rel] != nil && x.entries[rel].Explicit)
		if j := byDir[fj.rel]; j != nil {
			j.files = append(j.files, fj.files...)
			continue
		}
		byDir[fj.rel] = &fj
	}
	jobs := make(chan job, len(byDir))
	for _, j := range byDir {
		jobs <- *j
	}
	close(jobs)
	outs := x.run(ctx, jobs)
	if err := ctx.Err(); err != nil {
		return ScanResult{}, err
	}
	var st ScanStats
	for _, o := range outs {
		st.Files++
		st.Read += o.read
		st.Parsed += o.parsed
		delete(x.hot, o.rel)
		if o.gone || o.e == nil {
			delete(x.entries, o.rel)
			continue
		}
		x.entries[o.rel] = o.e
		if o.e.isHot() {
			x.hot[o.rel] = o.e
		}
	}
	res := x.result()
	res.Stats = st
	return res, nil
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// result assembles the targets and errors of the hot entries.
func (x *Index) result() ScanResult {
	var res ScanResult
	for _, rel := range sortedKeys(x.hot) {
		e := x.hot[rel]
		if e.Warn != nil {
			res.Warnings = append(res.Warnings, e.Warn)
			continue
		}
		if e.Err != nil {
			res.Errors = append(res.Errors, e.Err)
			continue
		}
		res.Targets = append(res.Targets, e.Targets...)
	}
	sortResult(&res)
	return res
}

// realRoot returns the absolute root with symbolic links resolved.
func realRoot(root string) (string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("resolving root %q: %w", root, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("resolving root %q: %w", root, err)
	}
	return real, nil
}

// relPath turns p (relative to root, or absolute) into a slash path
// relative to root; it fails for a path outside root.
func relPath(root, p string) (string, error) {
	if filepath.IsAbs(p) {
		r, err := filepath.Rel(root, p)
		if err != nil {
			return "", fmt.Errorf("%w: %s", ErrOutsideRoot, p)
		}
		p = r
	}
	p = filepath.Clean(filepath.FromSlash(p))
	if !filepath.IsLocal(p) {
		return "", fmt.Errorf("%w: %s", ErrOutsideRoot, filepath.ToSlash(p))
	}
	return filepath.ToSlash(p), nil
}

// extraFiles normalises opts.Files.
func (x *Index) extraFiles(root string) (map[string]bool, []*FileError) {
	extra := make(map[string]bool, len(x.opts.Files))
	var errs []*FileError
	for _, f := range x.opts.Files {
		rel, err := relPath(root, f)
		if err != nil {
			errs = append(errs, &FileError{File: filepath.ToSlash(f), Err: err})
			continue
		}
		extra[rel] = true
	}
	return extra, errs
}

// indexFile is the persisted form of an Index.
type indexFile struct {
	Version int               `json:"version"`
	Entries map[string]*entry `json:"entries"`
}

const indexVersion = 1

// Save writes the index (for LoadIndex). Files with errors are left out, so
// that they are read again.
func (x *Index) Save(w io.Writer) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	f := indexFile{Version: indexVersion, Entries: make(map[string]*entry, len(x.entries))}
	for rel, e := range x.entries {
		if e.Err == nil && e.Warn == nil {
			f.Entries[rel] = e
		}
	}
	if err := json.NewEncoder(w).Encode(f); err != nil {
		return fmt.Errorf("saving index: %w", err)
	}
	return nil
}

// LoadIndex reads an index written by Save, for the tree at root. A
// Scan or Refresh then reads only files that changed since it was saved.
func LoadIndex(r io.Reader, root string, opts ScanOptions) (*Index, error) {
	var f indexFile
	if err := json.NewDecoder(r).Decode(&f); err != nil {
		return nil, fmt.Errorf("loading index: %w", err)
	}
	if f.Version != indexVersion {
		return nil, fmt.Errorf("loading index: version %d, want %d", f.Version, indexVersion)
	}
	x := NewIndex(root, opts)
	x.entries = make(map[string]*entry, len(f.Entries))
	x.hot = make(map[string]*entry)
	for rel, e := range f.Entries {
		if e == nil || !filepath.IsLocal(filepath.FromSlash(rel)) || strings.Contains(rel, "\\") || path.Clean(rel) != rel {
			continue
		}
		x.entries[rel] = e
		if e.isHot() {
			x.hot[rel] = e
		}
	}
	x.scanned = true
	return x, nil
}
