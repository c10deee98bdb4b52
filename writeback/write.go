package writeback

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
)

// FileResult is the outcome of writing (or previewing) one file.
type FileResult struct {
	// Path is slash-separated and relative to the root.
	Path string
	// Changes are the file's changes, sorted by position.
	Changes []Change
	// Old and New are the file's bytes before and after; New is nil when
	// Err is set.
	Old, New []byte
	// Err is a *FileError when the file was refused and left untouched.
	Err error
}

// Write applies a Changeset to the files under root. Each file is read
// again and refused when its bytes are no longer those planned against
// (ErrStale), when it is a symbolic link (ErrSymlink) or when its path
// leads outside root (ErrOutsideRoot); otherwise the new bytes go to a
// temporary file in the same directory, which gets the file's mode and is
// renamed over it. A refused file is left untouched and the other files are
// still written. Files are written concurrently; the results are sorted by
// path. The error is for the run as a whole (root cannot be opened, ctx is
// done).
func Write(ctx context.Context, root string, cs Changeset) ([]FileResult, error) {
	return apply(ctx, root, cs, true)
}

// Preview is Write without writing: the results carry the old and new bytes
// of each file (for a diff, see Diff), after the same checks.
func Preview(ctx context.Context, root string, cs Changeset) ([]FileResult, error) {
	return apply(ctx, root, cs, false)
}

func apply(ctx context.Context, root string, cs Changeset, write bool) ([]FileResult, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("opening root %q: %w", root, err)
	}
	defer func() { _ = r.Close() }() // files written through r are closed by replace
	changes := slices.Clone(cs.Changes)
	slices.SortStableFunc(changes, func(a, b Change) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Span.Start, b.Span.Start))
	})
	var results []FileResult
	for len(changes) > 0 {
		n := 1
		for n < len(changes) && changes[n].File == changes[0].File {
			n++
		}
		results = append(results, FileResult{Path: changes[0].File, Changes: changes[:n:n]})
		changes = changes[n:]
	}
	// Files are independent: write them concurrently, so that one waiting
	// for the disk (a rename can start write-back) does not hold the others.
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(len(results), 2*runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res := &results[i]
				res.Old, res.New, res.Err = applyFile(r, res.Path, res.Changes, write)
			}
		}()
	}
	done := 0
	for i := range results {
		if ctx.Err() != nil {
			break
		}
		next <- i
		done++
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return results[:done], err
	}
	return results, nil
}

// applyFile reads, checks, edits and (when write is set) replaces one file.
func applyFile(r *os.Root, file string, changes []Change, write bool) (old, edited []byte, err error) {
	fail := func(err error) ([]byte, []byte, error) {
		var fe *FileError
		if errors.As(err, &fe) {
			return old, nil, err
		}
		return old, nil, &FileError{File: file, Err: err}
	}
	name := filepath.FromSlash(file)
	if !filepath.IsLocal(name) {
		return fail(ErrOutsideRoot)
	}
	// os.Root refuses links that lead outside it; hoist refuses every
	// link on the way, so that what is written is what was scanned.
	for dir := filepath.Dir(name); dir != "."; dir = filepath.Dir(dir) {
		if fi, err := r.Lstat(dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return fail(fmt.Errorf("%w: %s", ErrSymlink, filepath.ToSlash(dir)))
		}
	}
	fi, err := r.Lstat(name)
	switch {
	case err != nil:
		return fail(err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return fail(ErrSymlink)
	case !fi.Mode().IsRegular():
		return fail(fmt.Errorf("%w: not a regular file", ErrUnsupported))
	}
	old, err = r.ReadFile(name)
	if err != nil {
		return fail(err)
	}
	edited, err = Apply(old, changes)
	if err != nil {
		return fail(err)
	}
	if !write {
		return old, edited, nil
	}
	if err := replace(r, name, edited, fi.Mode().Perm()); err != nil {
		return fail(err)
	}
	return old, edited, nil
}

// replace writes data to a temporary file next to name and renames it over
// name, so that a reader sees the old or the new file, never a part. Like
// Git with working-tree files, it does not fsync: the commit that follows is
// the durable record.
func replace(r *os.Root, name string, data []byte, perm fs.FileMode) (err error) {
	tmp := filepath.Join(filepath.Dir(name), "."+path.Base(filepath.ToSlash(name))+".hoist-"+rand.Text()[:8]+".tmp")
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("creating temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = r.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("writing temporary file: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("closing temporary file: %w", err)
	}
	// The umask may have narrowed the mode OpenFile was given.
	if err = r.Chmod(tmp, perm); err != nil {
		return fmt.Errorf("setting mode: %w", err)
	}
	if err = r.Rename(tmp, name); err != nil {
		return fmt.Errorf("renaming temporary file: %w", err)
	}
	return nil
}
