//go:build !linux

package writeback

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// dirHandle opens the files of one directory, by full path.
type dirHandle struct{ path string }

// openDirPath opens the directory at path for a job the walk did not open.
func openDirPath(path string) dirHandle { return dirHandle{path: path} }

// openRootDir opens the root of a walk.
func openRootDir(path string) (*openDir, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	d := &openDir{f: f, fd: -1, path: path}
	d.refs.Store(1)
	return d, nil
}

// child opens the directory name of d, refusing a symbolic link.
func (d *openDir) child(name string) (*openDir, error) {
	full := filepath.Join(d.path, name)
	fi, err := os.Lstat(full)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrUnsupported, full)
	}
	return openRootDir(full)
}

// handle is the dirHandle of an open directory.
func (d *openDir) handle() dirHandle { return dirHandle{path: d.path} }

func (d dirHandle) close() {}

// lstat describes a file without following a symbolic link.
func (d dirHandle) lstat(name string) (fileStat, error) {
	fi, err := os.Lstat(filepath.Join(d.path, name))
	if err != nil {
		return fileStat{}, err
	}
	return fileStat{size: fi.Size(), mtime: fi.ModTime().UnixNano(), typ: fi.Mode().Type()}, nil
}

// read reads a regular file into buf (grown as needed) and returns its
// bytes, size and modification time (UnixNano).
func (d dirHandle) read(name string, buf []byte, _ bool) ([]byte, int64, int64, error) {
	f, err := os.Open(filepath.Join(d.path, name))
	if err != nil {
		return buf, 0, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return buf, 0, 0, err
	}
	if !fi.Mode().IsRegular() {
		return buf, 0, 0, fmt.Errorf("%w: %s is not a regular file", ErrUnsupported, f.Name())
	}
	buf = growBuf(buf[:0], fi.Size())
	for {
		if len(buf) == cap(buf) {
			buf = growBuf(buf, int64(2*cap(buf)))
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, fi.Size(), fi.ModTime().UnixNano(), nil
		}
		if err != nil {
			return buf, 0, 0, err
		}
	}
}
