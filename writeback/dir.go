package writeback

import (
	"io/fs"
	"os"
	"sync/atomic"
)

// openDir is a directory the walk opened, shared by the workers that read
// its files; the last release closes it.
type openDir struct {
	f    *os.File
	fd   int // f's descriptor where files are opened relative to it, else -1
	path string
	refs atomic.Int32
}

func (d *openDir) hold() { d.refs.Add(1) }

func (d *openDir) release() {
	if d.refs.Add(-1) == 0 {
		_ = d.f.Close() // a directory, read only
	}
}

// readDir lists the directory without sorting it (os.ReadDir sorts).
func (d *openDir) readDir() ([]fs.DirEntry, error) { return d.f.ReadDir(-1) }
