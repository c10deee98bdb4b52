package git

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// compactAfter is how many packfiles a cache may hold before Sync packs
// them into one. go-git writes a packfile for every fetch that brings
// something, and every object lookup goes through all of them: a service
// fetching a busy repository every few minutes would slow down, and hold
// more files open, run after run.
const compactAfter = 32

// compact packs every object reachable from the cache's references into one
// packfile and removes the old packfiles and the loose objects, when there
// are more than compactAfter packfiles. go-git's RepackObjects walks
// history to its root, which a shallow clone does not have; this walk
// stops at the shallow boundary.
func (c *Checkout) compact() error {
	pos, ok := c.repo.Storer.(storer.PackedObjectStorer)
	if !ok {
		return nil
	}
	packs, err := pos.ObjectPacks()
	if err != nil || len(packs) <= compactAfter {
		return err
	}
	seen, err := c.reachable()
	if err != nil {
		return err
	}
	pfw, ok := c.repo.Storer.(storer.PackfileWriter)
	if !ok {
		return errors.New("the object store cannot write packfiles")
	}
	objs := make([]plumbing.Hash, 0, len(seen))
	for h := range seen {
		objs = append(objs, h)
	}
	w, err := pfw.PackfileWriter()
	if err != nil {
		return err
	}
	packed, err := packfile.NewEncoder(w, c.repo.Storer, false).Encode(objs, 10)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the packfile: %w", err)
	}
	for _, h := range packs {
		if h != packed {
			if err := pos.DeleteOldObjectPackAndIndex(h, time.Time{}); err != nil {
				return fmt.Errorf("removing packfile %s: %w", h, err)
			}
		}
	}
	if los, ok := c.repo.Storer.(storer.LooseObjectStorer); ok {
		err := los.ForEachObjectHash(func(h plumbing.Hash) error {
			if seen[h] {
				return los.DeleteLooseObject(h)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("removing packed loose objects: %w", err)
		}
	}
	// The store caches the packfiles it has seen: open it afresh.
	if err := c.reopen(); err != nil {
		return err
	}
	c.log.Debug("packed the cache", "packfiles", len(packs), "objects", len(objs))
	return nil
}

// reachable lists the objects reachable from every reference, stopping at
// the commits the shallow file names, whose parents are not here.
func (c *Checkout) reachable() (map[plumbing.Hash]bool, error) {
	shallow := map[plumbing.Hash]bool{}
	boundary, err := c.repo.Storer.Shallow()
	if err != nil {
		return nil, err
	}
	for _, h := range boundary {
		shallow[h] = true
	}
	seen := map[plumbing.Hash]bool{}
	var walk func(h plumbing.Hash) error
	walk = func(h plumbing.Hash) error {
		if seen[h] {
			return nil
		}
		seen[h] = true
		obj, err := object.GetObject(c.repo.Storer, h)
		if err != nil {
			return fmt.Errorf("reading object %s: %w", h, err)
		}
		switch o := obj.(type) {
		case *object.Commit:
			if err := walk(o.TreeHash); err != nil {
				return err
			}
			if shallow[h] {
				return nil
			}
			for _, p := range o.ParentHashes {
				if err := walk(p); err != nil {
					return err
				}
			}
		case *object.Tree:
			for _, e := range o.Entries {
				switch e.Mode {
				case filemode.Submodule:
					// A commit of another repository.
				case filemode.Dir:
					if err := walk(e.Hash); err != nil {
						return err
					}
				default:
					seen[e.Hash] = true
				}
			}
		case *object.Tag:
			return walk(o.Target)
		}
		return nil
	}
	refs, err := c.repo.Storer.IterReferences()
	if err != nil {
		return nil, err
	}
	err = refs.ForEach(func(r *plumbing.Reference) error {
		if r.Type() != plumbing.HashReference {
			return nil
		}
		return walk(r.Hash())
	})
	return seen, err
}
