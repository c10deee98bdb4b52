package git

import (
	"context"
	"errors"
	"fmt"
	"io"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
)

// refUpdate is one ref a push sets.
type refUpdate struct {
	// ref is the remote ref to set to local.
	ref   plumbing.ReferenceName
	local plumbing.Hash
	// lease, when set, is what the remote ref must point at for the push
	// to go ahead (plumbing.ZeroHash: the ref must not exist).
	lease *plumbing.Hash
	// force allows an update that is not a fast forward.
	force bool
	// base is a commit the remote has, below local: the checkout's head.
	base    plumbing.Hash
	options map[string]string
	// progress receives the remote's messages.
	progress io.Writer
}

// maxPushChain bounds the commits sendPack walks from the pushed commit down
// to one the remote has; beyond it, or at a merge, it lets go-git's revlist
// find the objects.
const maxPushChain = 256

// sendPack pushes u.local to u.ref in one receive-pack session. Unlike
// go-git's Remote.PushContext, whose revlist walks everything reachable
// from the remote's refs (the whole history of the clone), it sends the
// objects of the commits between u.local and a commit the remote has, found
// by comparing each commit's tree with its parent's and descending only
// into the subtrees that differ: the cost follows the size of the change,
// not the history. The errors read like go-git's (a refused update is "command
// error on REF: ..."), and gogit.NoErrAlreadyUpToDate means the remote ref
// is already at u.local.
func (c *Checkout) sendPack(ctx context.Context, u refUpdate) (err error) {
	remote, err := c.repo.Remote(remoteName)
	if err != nil {
		return err
	}
	urls := remote.Config().URLs
	if len(urls) == 0 {
		return fmt.Errorf("remote %q has no URL", remoteName)
	}
	ep, err := transport.NewEndpoint(urls[len(urls)-1])
	if err != nil {
		return err
	}
	ep.InsecureSkipTLS = c.opts.InsecureSkipTLS
	ep.CaBundle = c.opts.Auth.CABundle
	cl, err := client.NewClient(ep)
	if err != nil {
		return err
	}
	sess, err := cl.NewReceivePackSession(ep, c.auth)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := sess.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return err
	}
	refs, err := ar.AllReferences()
	if err != nil {
		return err
	}
	cur := plumbing.ZeroHash
	if r, err := refs.Reference(u.ref); err == nil {
		if r.Type() != plumbing.HashReference {
			return fmt.Errorf("remote ref %s is a symbolic reference", u.ref)
		}
		cur = r.Hash()
	}
	if cur == u.local {
		return gogit.NoErrAlreadyUpToDate
	}
	if u.lease != nil && cur != *u.lease {
		return fmt.Errorf("non-fast-forward update: %s: the remote has %s, the push expected %s", u.ref, cur, *u.lease)
	}

	haves := map[plumbing.Hash]bool{u.base: true}
	for _, r := range refs {
		if r.Type() == plumbing.HashReference {
			haves[r.Hash()] = true
		}
	}
	hashes, chain, err := c.objectsToSend(u.local, haves)
	if err != nil {
		return err
	}
	if !u.force && !cur.IsZero() && !chain[cur] {
		ff := false
		if _, err := c.repo.CommitObject(cur); err == nil {
			ff, err = isAncestor(c.repo, cur, u.local)
			if err != nil {
				return err
			}
		}
		if !ff {
			return fmt.Errorf("non-fast-forward update: %s", u.ref)
		}
	}

	req := packp.NewReferenceUpdateRequestFromCapabilities(ar.Capabilities)
	if u.progress != nil {
		req.Progress = u.progress
		if ar.Capabilities.Supports(capability.Sideband64k) {
			_ = req.Capabilities.Set(capability.Sideband64k)
		} else if ar.Capabilities.Supports(capability.Sideband) {
			_ = req.Capabilities.Set(capability.Sideband)
		}
	}
	if ar.Capabilities.Supports(capability.PushOptions) && len(u.options) > 0 {
		_ = req.Capabilities.Set(capability.PushOptions)
		for k, v := range u.options {
			req.Options = append(req.Options, &packp.Option{Key: k, Value: v})
		}
	}
	req.Commands = []*packp.Command{{Name: u.ref, Old: cur, New: u.local}}

	cfg, err := c.repo.Storer.Config()
	if err != nil {
		return err
	}
	rd, wr := io.Pipe()
	req.Packfile = rd
	done := make(chan error, 1)
	go func() {
		enc := packfile.NewEncoder(wr, c.repo.Storer, !ar.Capabilities.Supports(capability.OFSDelta))
		if _, err := enc.Encode(hashes, cfg.Pack.Window); err != nil {
			done <- wr.CloseWithError(err)
			return
		}
		done <- wr.Close()
	}()
	rs, err := sess.ReceivePack(ctx, req)
	if err != nil {
		_ = rd.Close() // unblocks the encoder
	}
	if encErr := <-done; err == nil {
		err = encErr
	}
	if err != nil {
		return err
	}
	if rs != nil {
		if err := rs.Error(); err != nil {
			return err
		}
	}
	// As go-git does: the remote-tracking ref of a fetched branch follows.
	for _, spec := range remote.Config().Fetch {
		if spec.Match(u.ref) {
			if err := c.repo.Storer.SetReference(plumbing.NewHashReference(spec.Dst(u.ref), u.local)); err != nil {
				return err
			}
		}
	}
	return nil
}

// objectsToSend lists the objects the remote lacks to have local, given
// commits it has (haves), and the commits walked (with the have the walk
// stopped at). It follows single-parent
// commits from local down to a have, and for each sends the commit, and the
// trees and blobs of its tree that are not in its parent's tree. A merge, a
// root commit, a missing object or a chain longer than maxPushChain falls
// back to go-git's revlist, which walks the history behind the haves.
func (c *Checkout) objectsToSend(local plumbing.Hash, haves map[plumbing.Hash]bool) ([]plumbing.Hash, map[plumbing.Hash]bool, error) {
	w := &packWalk{s: c.repo.Storer, seen: map[plumbing.Hash]bool{}}
	chain := map[plumbing.Hash]bool{}
	ok, err := w.chain(local, haves, chain)
	if err != nil {
		return nil, nil, err
	}
	if ok {
		return w.out, chain, nil
	}
	list := make([]plumbing.Hash, 0, len(haves))
	for h := range haves {
		list = append(list, h)
	}
	shallow, err := c.repo.Storer.Shallow()
	if err != nil {
		return nil, nil, err
	}
	list = append(list, shallow...)
	hashes, err := revlist.Objects(c.repo.Storer, []plumbing.Hash{local}, list)
	return hashes, chain, err
}

// packWalk collects the objects to send.
type packWalk struct {
	s    storer.EncodedObjectStorer
	seen map[plumbing.Hash]bool
	out  []plumbing.Hash
}

func (w *packWalk) add(h plumbing.Hash) bool {
	if w.seen[h] {
		return false
	}
	w.seen[h] = true
	w.out = append(w.out, h)
	return true
}

// chain walks the commits from h down to a have; it reports false when the
// walk does not apply (see objectsToSend).
func (w *packWalk) chain(h plumbing.Hash, haves, chain map[plumbing.Hash]bool) (bool, error) {
	for n := 0; !haves[h]; n++ {
		if n == maxPushChain {
			return false, nil
		}
		commit, err := object.GetCommit(w.s, h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if len(commit.ParentHashes) != 1 {
			return false, nil
		}
		parent, err := object.GetCommit(w.s, commit.ParentHashes[0])
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return false, nil // beyond a shallow clone's boundary
		}
		if err != nil {
			return false, err
		}
		chain[h] = true
		w.add(h)
		if err := w.tree(commit.TreeHash, parent.TreeHash); err != nil {
			if errors.Is(err, plumbing.ErrObjectNotFound) {
				return false, nil
			}
			return false, err
		}
		h = parent.Hash
	}
	chain[h] = true
	return true, nil
}

// tree adds tree h and what it holds that tree old (zero: none) does not,
// descending only into subtrees that differ.
func (w *packWalk) tree(h, old plumbing.Hash) error {
	if h == old || !w.add(h) {
		return nil
	}
	t, err := object.GetTree(w.s, h)
	if err != nil {
		return err
	}
	var before map[string]object.TreeEntry
	if !old.IsZero() {
		ot, err := object.GetTree(w.s, old)
		if err != nil {
			return err
		}
		before = make(map[string]object.TreeEntry, len(ot.Entries))
		for _, e := range ot.Entries {
			before[e.Name] = e
		}
	}
	for _, e := range t.Entries {
		o, had := before[e.Name]
		if had && o.Hash == e.Hash && o.Mode == e.Mode {
			continue
		}
		switch e.Mode {
		case filemode.Submodule:
			// A commit of another repository: nothing to send.
		case filemode.Dir:
			var oldSub plumbing.Hash
			if had && o.Mode == filemode.Dir {
				oldSub = o.Hash
			}
			if err := w.tree(e.Hash, oldSub); err != nil {
				return err
			}
		default:
			if !had || o.Hash != e.Hash {
				w.add(e.Hash)
			}
		}
	}
	return nil
}

// isAncestor reports whether commit a is an ancestor of commit b.
func isAncestor(repo *gogit.Repository, a, b plumbing.Hash) (bool, error) {
	ca, err := repo.CommitObject(a)
	if err != nil {
		return false, err
	}
	cb, err := repo.CommitObject(b)
	if err != nil {
		return false, err
	}
	return ca.IsAncestor(cb)
}
