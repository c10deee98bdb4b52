package git

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/utils/merkletrie"
)

// fastForwardMax is the most paths fastForward writes.
const fastForwardMax = 1000

// errNoFastForward means the worktree cannot be moved by writing only the
// paths that differ; resetTo walks it instead.
var errNoFastForward = errors.New("cannot fast-forward the worktree")

// fastForward moves a clean worktree and its index from commit from to
// commit to by writing, and removing, only the paths where their trees
// differ: go-git's hard reset walks every file of the worktree, which on a
// large repository costs far more than another writer's few changed files.
// It handles regular and executable files only; a change that involves a
// symbolic link, a submodule or a path through a symbolic link returns
// errNoFastForward before anything is written, and so does anything
// unexpected later (the caller then walks, which repairs whatever was
// written). The caller has removed the clean mark.
func (c *Checkout) fastForward(from, to plumbing.Hash) error {
	treeOf := func(h plumbing.Hash) (*object.Tree, error) {
		commit, err := c.repo.CommitObject(h)
		if err != nil {
			return nil, err
		}
		return commit.Tree()
	}
	a, err := treeOf(from)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoFastForward, err)
	}
	b, err := treeOf(to)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoFastForward, err)
	}
	changes, err := object.DiffTree(a, b)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoFastForward, err)
	}
	if len(changes) > fastForwardMax {
		// go-git's index looks entries up one by one; past this many,
		// the walk is as quick.
		return fmt.Errorf("%w: %d paths changed", errNoFastForward, len(changes))
	}
	root, err := os.OpenRoot(c.dir)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoFastForward, err)
	}
	defer func() { _ = root.Close() }()

	type step struct {
		name   string
		delete bool
		entry  object.TreeEntry
	}
	var deletes, writes []step
	for _, ch := range changes {
		action, err := ch.Action()
		if err != nil {
			return fmt.Errorf("%w: %v", errNoFastForward, err)
		}
		for _, e := range []object.ChangeEntry{ch.From, ch.To} {
			if e.Name == "" {
				continue
			}
			if err := fastForwardable(root, e); err != nil {
				return err
			}
		}
		switch action {
		case merkletrie.Delete:
			deletes = append(deletes, step{name: ch.From.Name, delete: true})
		case merkletrie.Insert, merkletrie.Modify:
			writes = append(writes, step{name: ch.To.Name, entry: ch.To.TreeEntry})
		}
	}
	idx, err := c.repo.Storer.Index()
	if err != nil {
		return fmt.Errorf("%w: %v", errNoFastForward, err)
	}
	// Deletes first: a file may give way to a directory of the same name.
	sort.Slice(deletes, func(i, j int) bool { return deletes[i].name > deletes[j].name })
	for _, s := range deletes {
		if err := root.Remove(s.name); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: removing %s: %v", errNoFastForward, s.name, err)
		}
		if _, err := idx.Remove(s.name); err != nil && !errors.Is(err, index.ErrEntryNotFound) {
			return fmt.Errorf("%w: %v", errNoFastForward, err)
		}
		// Empty directories go too, as git removes them.
		for dir := path.Dir(s.name); dir != "."; dir = path.Dir(dir) {
			if root.Remove(dir) != nil {
				break
			}
		}
	}
	for _, s := range writes {
		if err := c.writeBlob(root, s.name, s.entry); err != nil {
			return fmt.Errorf("%w: writing %s: %v", errNoFastForward, s.name, err)
		}
		fi, err := root.Lstat(s.name)
		if err != nil {
			return fmt.Errorf("%w: %v", errNoFastForward, err)
		}
		e, err := idx.Entry(s.name)
		if err != nil {
			e = idx.Add(s.name)
		}
		e.Hash, e.Mode, e.Size, e.ModifiedAt = s.entry.Hash, s.entry.Mode, uint32(fi.Size()), fi.ModTime()
	}
	// The cached-tree extension describes the old trees; git rebuilds
	// it when it is missing.
	idx.Cache = nil
	if err := c.repo.Storer.SetIndex(idx); err != nil {
		return fmt.Errorf("%w: writing the index: %v", errNoFastForward, err)
	}
	c.log.Debug("fast-forwarded the worktree", "from", from.String(), "to", to.String(), "paths", len(deletes)+len(writes))
	return nil
}

// fastForwardable checks one side of a change: a regular or executable
// file, at a path inside the worktree, outside .git, reached through real
// directories only.
func fastForwardable(root *os.Root, e object.ChangeEntry) error {
	switch e.TreeEntry.Mode {
	case filemode.Regular, filemode.Executable, filemode.Deprecated:
	default:
		return fmt.Errorf("%w: %s is a %v", errNoFastForward, e.Name, e.TreeEntry.Mode)
	}
	for _, part := range strings.Split(e.Name, "/") {
		if part == "" || part == "." || part == ".." || strings.EqualFold(part, ".git") {
			return fmt.Errorf("%w: path %q", errNoFastForward, e.Name)
		}
	}
	for dir := path.Dir(e.Name); dir != "."; dir = path.Dir(dir) {
		fi, err := root.Lstat(dir)
		if err == nil && !fi.IsDir() {
			return fmt.Errorf("%w: %s is not a directory", errNoFastForward, dir)
		}
	}
	return nil
}

// writeBlob writes a blob to name through a temporary file and a rename,
// with the mode of its tree entry.
func (c *Checkout) writeBlob(root *os.Root, name string, entry object.TreeEntry) error {
	blob, err := c.repo.BlobObject(entry.Hash)
	if err != nil {
		return err
	}
	r, err := blob.Reader()
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }()
	if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	perm := os.FileMode(0o644)
	if entry.Mode == filemode.Executable {
		perm = 0o755
	}
	tmp := path.Join(path.Dir(name), ".hoist-ff-"+path.Base(name)+".tmp")
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		_ = f.Close()
		_ = root.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		_ = root.Remove(tmp)
		return err
	}
	if err := root.Chmod(tmp, perm); err != nil { // umask may have narrowed it
		_ = root.Remove(tmp)
		return err
	}
	if fi, err := root.Lstat(name); err == nil && fi.IsDir() {
		return fmt.Errorf("%s is a directory", name)
	}
	return root.Rename(tmp, name)
}
