//go:build linux

package writeback

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// dirHandle opens the files of one directory. On Linux it holds the
// directory open and opens files relative to it (openat), with the system
// calls directly: resolving a whole path per file and an os.File (an extra
// fcntl, a poller registration attempt, a finalizer) cost more than reading
// a small file.
type dirHandle struct {
	path string
	fd   int // -1 when the directory could not be opened: use full paths
}

// openDirPath opens the directory at path for a job the walk did not open
// (Refresh and the files named by ScanOptions.Files).
func openDirPath(path string) dirHandle {
	fd, err := retryEINTR(func() (int, error) {
		return syscall.Open(path, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	})
	if err != nil {
		fd = -1
	}
	return dirHandle{path: path, fd: fd}
}

// openRootDir opens the root of a walk.
func openRootDir(path string) (*openDir, error) {
	fd, err := retryEINTR(func() (int, error) {
		return syscall.Open(path, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return newOpenDir(fd, path), nil
}

// child opens the directory name of d, relative to d and without
// following a symbolic link.
func (d *openDir) child(name string) (*openDir, error) {
	full := filepath.Join(d.path, name)
	fd, err := retryEINTR(func() (int, error) {
		return syscall.Openat(d.fd, name, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: full, Err: err}
	}
	return newOpenDir(fd, full), nil
}

func newOpenDir(fd int, path string) *openDir {
	d := &openDir{f: os.NewFile(uintptr(fd), path), fd: fd, path: path}
	d.refs.Store(1)
	return d
}

// handle is the dirHandle of an open directory; it is closed by release.
func (d *openDir) handle() dirHandle { return dirHandle{path: d.path, fd: d.fd} }

func (d dirHandle) close() {
	if d.fd >= 0 {
		_ = syscall.Close(d.fd)
	}
}

func retryEINTR(f func() (int, error)) (int, error) {
	for {
		n, err := f()
		if !errors.Is(err, syscall.EINTR) {
			return n, err
		}
	}
}

// at returns the directory descriptor and the name to use for name.
func (d dirHandle) at(name string) (int, string) {
	if d.fd < 0 {
		return unixAtCWD, filepath.Join(d.path, name)
	}
	return d.fd, name
}

const unixAtCWD = -0x64 // AT_FDCWD, which package syscall does not export

// lstat describes a file without following a symbolic link.
func (d dirHandle) lstat(name string) (fileStat, error) {
	dfd, n := d.at(name)
	var st unix.Stat_t
	if _, err := retryEINTR(func() (int, error) { return 0, unix.Fstatat(dfd, n, &st, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
		return fileStat{}, &fs.PathError{Op: "lstat", Path: filepath.Join(d.path, name), Err: err}
	}
	return fileStat{size: st.Size, mtime: st.Mtim.Nano(), typ: fileType(st.Mode)}, nil
}

func fileType(mode uint32) fs.FileMode {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return 0
	case syscall.S_IFDIR:
		return fs.ModeDir
	case syscall.S_IFLNK:
		return fs.ModeSymlink
	}
	return fs.ModeIrregular
}

// read reads a regular file into buf (grown as needed) and returns its
// bytes and, when stat is set, its size and modification time (UnixNano).
// A file that became a symbolic link since the walk is not followed; one
// that is no longer a regular file is refused when stat is set, and cannot
// block a read otherwise (O_NONBLOCK).
func (d dirHandle) read(name string, buf []byte, stat bool) ([]byte, int64, int64, error) {
	dfd, n := d.at(name)
	full := func() string { return filepath.Join(d.path, name) }
	fd, err := retryEINTR(func() (int, error) {
		return syscall.Openat(dfd, n, syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	})
	if err != nil {
		return buf, 0, 0, &fs.PathError{Op: "open", Path: full(), Err: err}
	}
	defer func() { _ = syscall.Close(fd) }() // read only
	var st syscall.Stat_t
	if stat {
		if err := syscall.Fstat(fd, &st); err != nil {
			return buf, 0, 0, &fs.PathError{Op: "stat", Path: full(), Err: err}
		}
		if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
			return buf, 0, 0, fmt.Errorf("%w: %s is not a regular file", ErrUnsupported, full())
		}
	}
	buf = growBuf(buf[:0], st.Size)
	for {
		if len(buf) == cap(buf) {
			buf = growBuf(buf, int64(2*cap(buf)))
		}
		k, err := retryEINTR(func() (int, error) { return syscall.Read(fd, buf[len(buf):cap(buf)]) })
		if err != nil {
			return buf, 0, 0, &fs.PathError{Op: "read", Path: full(), Err: err}
		}
		if k == 0 {
			return buf, st.Size, st.Mtim.Nano(), nil
		}
		buf = buf[:len(buf)+k]
	}
}
