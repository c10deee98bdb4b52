package git

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// DefaultMaxClones is how many opened clones a Clones keeps when its Max is
// zero.
const DefaultMaxClones = 32

// openPacks bounds the packfiles a checkout holds open while it reads
// objects (go-git otherwise opens the packfile again for every object it
// reads); a kept clone holds none.
const openPacks = 8

// Clones keeps the cached clones that checkouts opened, from a checkout's
// Close to the next Sync of the same clone, so that a run does not open the
// clone afresh: a freshly opened go-git repository reads the index of
// every packfile (every object's name and offset) at the first object it
// reads, which costs a run after a moved branch more than all else it
// reads. Pass one to every Sync through SyncOptions.Clones.
//
// A kept clone is used again only while the clone's packfiles are those it
// was put away with: another process may have fetched, packed, or cloned
// again into the cache in between, and the clone is then opened afresh.
// During a checkout the kept store follows hoist's own changes (a fetch
// writes its packfile through the store, which indexes it; packing the
// cache, or cloning it again, opens it afresh).
//
// A kept clone holds the index of its packfiles and no object and no open
// file: some 200 KB for a shallow clone of 500 files with a few dozen
// packfiles (BenchmarkRunAfterMovedHead's kept-B), and under 100 bytes
// more an object (its name, offset and checksum, and go-git's map from
// offset to name). Keeping the objects read last as well saved a run under
// 2% of its allocations (the trees it reads again are few and small) for
// twice the memory. The least recently used are dropped past Max.
//
// The zero value is ready to use. It is safe for concurrent use; a clone is
// used by one checkout at a time (Sync takes it, Close puts it back).
type Clones struct {
	// Max is how many clones are kept at most. Default (0):
	// DefaultMaxClones; negative: none.
	Max int

	mu   sync.Mutex
	kept map[string]*openClone // by directory
	tick uint64
	// reused and stale count the takes that found a kept clone, with
	// the same packfiles and with others.
	reused, stale int
}

// openClone is a cached clone opened with hoist's object store.
type openClone struct {
	repo  *gogit.Repository
	store *filesystem.Storage
	cache *cache.ObjectLRU
	// packs names the packfiles the store was put away with
	// (packfiles); used is when, in Clones.tick.
	packs string
	used  uint64
}

// openRepo opens the clone in dir (a worktree with its .git directory) as
// gogit.PlainOpen does, with an object store that keeps a few packfiles
// open while it is used.
func openRepo(dir string) (*openClone, error) {
	wt := osfs.New(dir)
	if fi, err := os.Stat(filepath.Join(dir, gogit.GitDirName)); err != nil || !fi.IsDir() {
		if err == nil {
			err = errors.New("not a directory")
		}
		return nil, fmt.Errorf("%w: %v", gogit.ErrRepositoryNotExists, err)
	}
	dot, err := wt.Chroot(gogit.GitDirName)
	if err != nil {
		return nil, err
	}
	lru := cache.NewObjectLRUDefault()
	store := filesystem.NewStorageWithOptions(dot, lru, filesystem.Options{MaxOpenDescriptors: openPacks})
	repo, err := gogit.Open(store, wt)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	return &openClone{repo: repo, store: store, cache: lru}, nil
}

// close releases the open packfiles. The store stays usable: it opens
// them again when it reads an object.
func (o *openClone) close() {
	_ = o.store.Close()
}

// park makes o fit to be kept: no open file, no object.
func (o *openClone) park() {
	o.close()
	o.cache.Clear()
}

// packfiles names the packfiles of the clone in dir: those an object
// store's index was read from are still the clone's while the names are
// the same, as a packfile's name is the checksum of its content.
func packfiles(dir string) (string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, gogit.GitDirName, "objects", "pack"))
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".idx") || strings.HasSuffix(e.Name(), ".pack") {
			b.WriteString(e.Name())
			b.WriteByte('\n')
		}
	}
	return b.String(), nil
}

func (cl *Clones) max() int {
	if cl.Max == 0 {
		return DefaultMaxClones
	}
	return cl.Max
}

// take returns the clone of dir that was kept, if its packfiles are still
// those it was put away with, and forgets it; nil otherwise.
func (cl *Clones) take(dir string) *openClone {
	cl.mu.Lock()
	o := cl.kept[dir]
	delete(cl.kept, dir)
	cl.mu.Unlock()
	if o == nil {
		return nil
	}
	packs, err := packfiles(dir)
	same := err == nil && packs == o.packs
	cl.mu.Lock()
	if same {
		cl.reused++
	} else {
		cl.stale++
	}
	cl.mu.Unlock()
	if !same {
		return nil // the store has no open file: nothing to release
	}
	return o
}

// put keeps o, the clone of dir, for the next take, and drops the least
// recently used clone past Max.
func (cl *Clones) put(dir string, o *openClone) {
	packs, err := packfiles(dir)
	o.park()
	if err != nil || cl.max() < 0 {
		return
	}
	o.packs = packs
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.kept == nil {
		cl.kept = map[string]*openClone{}
	}
	cl.tick++
	o.used = cl.tick
	cl.kept[dir] = o
	for len(cl.kept) > cl.max() {
		var oldest string
		for d, k := range cl.kept {
			if oldest == "" || k.used < cl.kept[oldest].used {
				oldest = d
			}
		}
		delete(cl.kept, oldest)
	}
}

// Len is how many clones are kept.
func (cl *Clones) Len() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return len(cl.kept)
}

// Reset drops every kept clone.
func (cl *Clones) Reset() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.kept = nil
}
