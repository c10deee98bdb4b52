package writeback

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"
)

// batchSize is the most files of one directory in one job.
const batchSize = 64

// typeUnknown marks a file whose type the walk did not report.
const typeUnknown fs.FileMode = fs.ModeIrregular

// job is a batch of files of one directory: a worker opens the directory
// once and each file relative to it, which spares the kernel the lookup of
// the whole path per file.
type job struct {
	dir   string // absolute path of the directory
	rel   string // its slash path relative to the root, "" for the root
	files []jobFile
	err   error // reading the directory failed (files holds its name)
	// open is the directory as the walk opened it, shared by its
	// batches (the job holds one reference); nil: the worker opens dir.
	open *openDir
}

// jobFile is one file of a job.
type jobFile struct {
	name     string
	typ      fs.FileMode // type bits from the directory entry, or typeUnknown
	explicit bool        // named by ScanOptions.Files
}

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// outcome is what a worker found for one file.
type outcome struct {
	rel          string
	e            *entry // nil: nothing to remember
	gone         bool   // the file no longer exists, or is not one to scan
	read, parsed int
}

// pendingDir is a directory the walk has yet to open: name in parent.
type pendingDir struct {
	parent *openDir // holds a reference until the directory is opened
	name   string
	rel    string
}

// walk sends, in batches per directory, every file of the tree that a
// format reads (skipping .git directories), then the extra files. Each
// directory is opened once, relative to its parent and without following
// a symbolic link, and its batches share that handle, so that the walk
// never leaves the tree and the workers open files relative to it.
func (x *Index) walk(ctx context.Context, root string, extra map[string]bool, jobs chan<- job) error {
	top, err := openRootDir(root)
	if err != nil {
		return fmt.Errorf("walking %q: %w", x.root, err)
	}
	stack := []pendingDir{{}}
	defer func() {
		for _, p := range stack { // left when ctx is done
			if p.parent != nil {
				p.parent.release()
			} else {
				top.release() // the root, not yet listed
			}
		}
	}()
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		d, rel := top, p.rel
		if p.parent != nil {
			d, err = p.parent.child(p.name)
			p.parent.release()
			if err != nil {
				jobs <- job{dir: filepath.Join(root, filepath.FromSlash(path.Dir(rel))), rel: parentRel(rel), err: err,
					files: []jobFile{{name: p.name}}}
				continue
			}
		}
		ents, err := d.readDir()
		if err != nil {
			d.release()
			if rel == "" {
				return fmt.Errorf("walking %q: %w", x.root, err)
			}
			jobs <- job{dir: filepath.Join(root, filepath.FromSlash(path.Dir(rel))), rel: parentRel(rel), err: err,
				files: []jobFile{{name: path.Base(rel)}}}
			continue
		}
		abs := d.path
		var batch []jobFile
		send := func() {
			d.hold()
			jobs <- job{dir: abs, rel: rel, files: batch, open: d}
			batch = nil
		}
		for _, e := range ents {
			name := e.Name()
			if e.IsDir() {
				if name != ".git" {
					d.hold()
					stack = append(stack, pendingDir{parent: d, name: name, rel: joinRel(rel, name)})
				}
				continue
			}
			if len(extra) > 0 && extra[joinRel(rel, name)] {
				continue
			}
			// A link of any name is looked at: one to a directory
			// outside the root is refused, not silently passed over.
			if e.Type()&fs.ModeSymlink == 0 && x.formatIn(name, func() string { return joinRel(rel, name) }, false) == nil {
				continue
			}
			batch = append(batch, jobFile{name: name, typ: e.Type()})
			if len(batch) == batchSize {
				send()
			}
		}
		if len(batch) > 0 {
			send()
		}
		d.release()
	}
	for _, rel := range sortedKeys(extra) {
		jobs <- fileJob(root, rel, true)
	}
	return nil
}

// parentRel is the slash path of rel's directory, "" for the root.
func parentRel(rel string) string {
	if d := path.Dir(rel); d != "." {
		return d
	}
	return ""
}

// fileJob is a job of one file given by its slash path.
func fileJob(root, rel string, explicit bool) job {
	dir := path.Dir(rel)
	if dir == "." {
		dir = ""
	}
	return job{
		dir:   filepath.Join(root, filepath.FromSlash(dir)),
		rel:   dir,
		files: []jobFile{{name: path.Base(rel), typ: typeUnknown, explicit: explicit}},
	}
}

// run reads the jobs with concurrent workers and returns their outcomes.
func (x *Index) run(ctx context.Context, jobs <-chan job) []outcome {
	n := x.opts.Workers
	if n <= 0 {
		n = 2 * runtime.GOMAXPROCS(0)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		outs []outcome
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			var mine []outcome
			for j := range jobs {
				if ctx.Err() != nil {
					if j.open != nil {
						j.open.release()
					}
					continue // drain
				}
				mine, buf = x.lookDir(j, mine, buf)
			}
			mu.Lock()
			outs = append(outs, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return outs
}

// lookDir looks at the files of one job. buf is the worker's read buffer,
// returned for reuse (targets keep no reference to it).
func (x *Index) lookDir(j job, outs []outcome, buf []byte) ([]outcome, []byte) {
	if j.err != nil {
		if j.open != nil {
			j.open.release()
		}
		for _, f := range j.files {
			rel := joinRel(j.rel, f.name)
			outs = append(outs, outcome{rel: rel, e: &entry{Err: &FileError{File: rel, Err: j.err}}})
		}
		return outs, buf
	}
	var d dirHandle
	if j.open != nil {
		d = j.open.handle()
		defer j.open.release()
	} else {
		d = openDirPath(j.dir)
		defer d.close()
	}
	for _, f := range j.files {
		var o outcome
		o, buf = x.look(d, j, f, buf)
		outs = append(outs, o)
	}
	return outs, buf
}

// look examines one file: reuses what the index knows when its size and
// modification time are unchanged, else reads, screens and scans it.
func (x *Index) look(d dirHandle, j job, f jobFile, buf []byte) (outcome, []byte) {
	var o outcome
	rel := func() string {
		if o.rel == "" {
			o.rel = joinRel(j.rel, f.name)
		}
		return o.rel
	}
	fail := func(err error) (outcome, []byte) {
		o.e = &entry{Explicit: f.explicit, Err: &FileError{File: rel(), Err: err}}
		return o, buf
	}
	var prev *entry
	if len(x.entries) > 0 {
		prev = x.entries[rel()]
	}
	typ := f.typ
	var st fileStat
	if typ == typeUnknown || prev != nil {
		var err error
		st, err = d.lstat(f.name)
		if errors.Is(err, fs.ErrNotExist) && !f.explicit {
			rel()
			o.gone = true
			return o, buf
		}
		if err != nil {
			return fail(err)
		}
		typ = st.typ
	}
	switch {
	case typ&fs.ModeSymlink != 0:
		return x.link(filepath.Join(j.dir, f.name), rel(), f, o), buf
	case !typ.IsRegular():
		if f.explicit {
			return fail(fmt.Errorf("%w: not a regular file", ErrUnsupported))
		}
		rel()
		o.gone = true
		return o, buf
	case prev != nil && prev.Err == nil && prev.Size == st.size && prev.ModTime == st.mtime:
		o.e = prev
		return o, buf
	}
	data, size, mtime, err := d.read(f.name, buf, x.keepAll)
	buf = data
	if err != nil {
		return fail(err)
	}
	o.read = 1
	fm := x.formatIn(f.name, rel, f.explicit)
	if fm == nil || !fm.screen(data) {
		if x.keepAll {
			o.e = &entry{Size: size, ModTime: mtime, Explicit: f.explicit}
			rel()
		}
		return o, buf
	}
	ts, _, ferr := scanFile(rel(), data, fm)
	o.parsed = 1
	if len(ts) == 0 && ferr == nil && !x.keepAll {
		return o, buf
	}
	o.e = &entry{Size: size, ModTime: mtime, Explicit: f.explicit, Targets: ts, Err: ferr}
	return o, buf
}

// link handles a symbolic link. One with the name of a file hoist reads
// (or named by ScanOptions.Files) is refused when it leads outside the
// root, and skipped with a warning when it dangles; a link of another name
// is refused when it leads to a directory outside the root (whose files
// would otherwise be silently missed). Anything else is skipped: a link
// that stays inside has its target scanned under its own name.
func (x *Index) link(abs, rel string, f jobFile, o outcome) outcome {
	o.rel = rel
	read := f.explicit || x.formatOf(rel, false) != nil
	fail := func(err error) outcome {
		o.e = &entry{Explicit: f.explicit, Err: &FileError{File: rel, Err: err}}
		return o
	}
	target, err := filepath.EvalSymlinks(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist) && read:
		o.e = &entry{Explicit: f.explicit, Warn: &FileError{File: rel, Err: ErrDanglingSymlink}}
		return o
	case err != nil && read:
		return fail(err)
	case err != nil:
		o.gone = true
		return o
	}
	root, err := realRoot(x.root)
	if err != nil {
		return fail(err)
	}
	if r, err := filepath.Rel(root, target); err != nil || !filepath.IsLocal(r) {
		if !read {
			if fi, err := os.Stat(target); err != nil || !fi.IsDir() {
				o.gone = true
				return o
			}
		}
		return fail(fmt.Errorf("%w: symbolic link", ErrOutsideRoot))
	}
	o.gone = true
	return o
}

// fileStat is what lstat says of a file.
type fileStat struct {
	size, mtime int64 // mtime in UnixNano
	typ         fs.FileMode
}

// growBuf returns buf with room for at least size+1 bytes (one more than a
// file's size, so that the read that finds the end needs no growth),
// keeping its contents.
func growBuf(buf []byte, size int64) []byte {
	if int64(cap(buf)) > size {
		return buf
	}
	nb := make([]byte, len(buf), max(size+1, 4096))
	copy(nb, buf)
	return nb
}
