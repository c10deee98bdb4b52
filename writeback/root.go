package writeback

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// maxLinks is the most symbolic links ResolveIn follows, as Linux does
// (ELOOP).
const maxLinks = 40

// ResolveIn resolves rel, a slash path inside the directory base (such as
// an automation's update path inside a clone), through base opened as an
// os.Root, and returns the directory's absolute path with every symbolic
// link on the way resolved. rel is cleaned first as if base were "/", so
// that a leading ".." stays at base. A link on the way that stays inside
// base is followed (a repository may point one directory at another of
// its own); one that leads outside base, relative or absolute, is refused
// with ErrOutsideRoot and an error naming the link's path. Scanning and
// writing below the returned path never follow links (see ScanDir and
// Write), so nothing outside base is read or written.
func ResolveIn(base, rel string) (abs, in string, err error) {
	real, err := realRoot(base)
	if err != nil {
		return "", "", err
	}
	r, err := os.OpenRoot(real)
	if err != nil {
		return "", "", fmt.Errorf("opening %q: %w", base, err)
	}
	defer func() { _ = r.Close() }() // read only
	todo := splitPath(path.Clean("/" + filepath.ToSlash(rel)))
	var done []string // resolved, real directories of base
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case ".":
			continue
		case "..":
			if len(done) == 0 {
				return "", "", fmt.Errorf("%w: %s leads above %s", ErrOutsideRoot, rel, base)
			}
			done = done[:len(done)-1]
			continue
		}
		p := path.Join(append(done, c)...)
		fi, err := r.Lstat(filepath.FromSlash(p))
		if err != nil {
			return "", "", fmt.Errorf("resolving %s in %s: %w", rel, base, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if !fi.IsDir() && len(todo) > 0 {
				return "", "", fmt.Errorf("resolving %s in %s: %s is not a directory", rel, base, p)
			}
			done = append(done, c)
			continue
		}
		if links++; links > maxLinks {
			return "", "", fmt.Errorf("resolving %s in %s: too many symbolic links at %s", rel, base, p)
		}
		target, err := r.Readlink(filepath.FromSlash(p))
		if err != nil {
			return "", "", fmt.Errorf("resolving %s in %s: %w", rel, base, err)
		}
		if filepath.IsAbs(target) {
			r, err := filepath.Rel(real, target)
			if err != nil || !filepath.IsLocal(r) {
				return "", "", fmt.Errorf("%w: %s is a symbolic link to %s", ErrOutsideRoot, p, target)
			}
			done, target = nil, filepath.ToSlash(r)
		} else if !filepath.IsLocal(filepath.FromSlash(path.Join(path.Join(done...), filepath.ToSlash(target)))) {
			return "", "", fmt.Errorf("%w: %s is a symbolic link to %s", ErrOutsideRoot, p, target)
		}
		todo = append(splitPath(filepath.ToSlash(target)), todo...)
	}
	in = path.Join(done...)
	if in == "" {
		in = "."
	}
	return filepath.Join(real, filepath.FromSlash(in)), in, nil
}

// splitPath splits a slash path into its names, without empty ones.
func splitPath(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
}
