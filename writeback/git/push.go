package git

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// PushResult says what a push did.
type PushResult struct {
	// Branch is the branch pushed to.
	Branch string
	// Commit is the SHA the branch points to on the remote afterwards.
	Commit string
	// Pushed is false when the remote already had the change: the push
	// branch's commit has the same parent and tree as the new commit, or
	// there was no new commit.
	Pushed bool
}

// pushedRefPrefix holds, in the cached clone, what hoist last pushed to each
// push branch: the default lease.
const pushedRefPrefix = "refs/hoist/pushed/"

// pushedOtherRefPrefix holds what hoist last pushed to each ref that is not
// a branch (refs/hoist/pushed-refs/for/main for refs/for/main).
const pushedOtherRefPrefix = "refs/hoist/pushed-refs/"

// Push pushes the checkout branch's new commit to opts.Branch (default: the
// checkout branch).
//
// To the checkout branch, the push is a fast-forward from Head and only
// succeeds while the remote branch still points at Head: if another writer
// pushed first, the error wraps ErrRemoteMoved; if the branch is gone,
// ErrBranchNotFound. Nothing is ever force-pushed to the checkout branch.
//
// To another branch (hoist's push branch), the branch is created when
// missing, and otherwise replaced with a force push leased on its current
// commit, provided the branch is hoist's own (see PushOptions.Lease);
// if it is not, the error wraps ErrBranchNotOwned.
//
// A refusal by the remote (a hook, a protected branch) wraps
// ErrPushRejected and quotes the remote's messages. When the connection
// breaks after the remote took the push, Push finds the new commit on the
// remote and succeeds.
//
// A push sends the new commits with only the trees and files they change,
// so its cost follows the size of the change, not the clone's history.
func (c *Checkout) Push(ctx context.Context, opts PushOptions) (PushResult, error) {
	res, err := c.push(ctx, opts)
	if err != nil {
		return PushResult{}, c.redact(err)
	}
	return res, nil
}

func (c *Checkout) push(ctx context.Context, opts PushOptions) (PushResult, error) {
	var extra plumbing.ReferenceName
	if opts.Refspec != "" {
		var err error
		if extra, err = opts.refspecTarget(c.opts.Branch); err != nil {
			return PushResult{}, err
		}
	}
	head, err := c.repo.Reference(c.branchRef(), true)
	if err != nil {
		return PushResult{}, fmt.Errorf("pushing: %w", err)
	}
	local, base := head.Hash(), c.head
	if opts.Branch == "" && extra != "" {
		// Flux: a refspec without a push branch is the only push.
		return c.pushRef(ctx, extra, local, base, opts)
	}
	target := opts.Branch
	if target == "" {
		target = c.opts.Branch
	}
	if err := validateBranch(target); err != nil {
		return PushResult{}, err
	}
	res, err := c.pushRef(ctx, plumbing.NewBranchReferenceName(target), local, base, opts)
	if err != nil || !res.Pushed || extra == "" || extra == plumbing.NewBranchReferenceName(target) {
		return res, err
	}
	if _, err := c.pushRef(ctx, extra, local, base, opts); err != nil {
		return PushResult{}, fmt.Errorf("pushed %s to %q, then the refspec %q failed: %w", local, target, opts.Refspec, err)
	}
	return res, nil
}

// pushRef pushes hoist's commit local, made on base, to ref: the checkout
// branch fast forward, another branch only while it is hoist's, any other
// ref (such as Gerrit's refs/for/BRANCH) without force.
func (c *Checkout) pushRef(ctx context.Context, ref plumbing.ReferenceName, local, base plumbing.Hash, opts PushOptions) (PushResult, error) {
	switch {
	case ref == c.branchRef():
		if local == c.head {
			return PushResult{Branch: c.opts.Branch, Commit: c.head.String()}, nil
		}
		return c.pushCheckoutBranch(ctx, local, opts.Options)
	case ref.IsBranch():
		lease := opts.Lease
		if ref != plumbing.NewBranchReferenceName(opts.Branch) {
			lease = "" // the lease is the push branch's
		}
		return c.pushOwnBranch(ctx, ref.Short(), local, lease, opts.Options)
	}
	return c.pushOtherRef(ctx, ref, local, base, opts.Options)
}

// pushOtherRef pushes local to a ref that is not a branch, without force,
// when it is a new commit (not base) that makes another change than the
// one this cache pushed there last: a review ref (Gerrit's refs/for/main)
// cannot be listed, and pushing the same change again would make one more
// review or patch set on every run.
func (c *Checkout) pushOtherRef(ctx context.Context, ref plumbing.ReferenceName, local, base plumbing.Hash, options map[string]string) (PushResult, error) {
	if local == base {
		return PushResult{Branch: ref.String()}, nil
	}
	pushed := plumbing.ReferenceName(pushedOtherRefPrefix + strings.TrimPrefix(ref.String(), "refs/"))
	if last, err := c.repo.Reference(pushed, false); err == nil {
		ours, err1 := c.repo.CommitObject(local)
		theirs, err2 := c.repo.CommitObject(last.Hash())
		if err1 == nil && err2 == nil && sameChange(theirs, ours) {
			return PushResult{Branch: ref.String(), Commit: last.Hash().String()}, nil
		}
	}
	progress := &tailBuffer{}
	pctx, cancel := c.netContext(ctx)
	defer cancel()
	err := c.sendPack(pctx, refUpdate{ref: ref, local: local, base: base, options: options, progress: progress})
	if err != nil && !errors.Is(err, gogit.NoErrAlreadyUpToDate) {
		if refused(err) || strings.Contains(err.Error(), "non-fast-forward") {
			err = fmt.Errorf("%w: %v", ErrPushRejected, err)
		}
		return PushResult{}, fmt.Errorf("pushing to %q: %w%s", ref, err, progress.remoteMessages())
	}
	if err := c.repo.Storer.SetReference(plumbing.NewHashReference(pushed, local)); err != nil {
		c.log.Warn("recording the pushed commit", "ref", ref.String(), "error", err.Error())
	}
	c.log.Debug("pushed", "ref", ref.String(), "commit", local.String())
	return PushResult{Branch: ref.String(), Commit: local.String(), Pushed: true}, nil
}

func (c *Checkout) pushCheckoutBranch(ctx context.Context, local plumbing.Hash, options map[string]string) (PushResult, error) {
	ref := c.branchRef()
	progress := &tailBuffer{}
	pctx, cancel := c.netContext(ctx)
	defer cancel()
	lease := c.head
	err := c.sendPack(pctx, refUpdate{ref: ref, local: local, lease: &lease, base: c.head, options: options, progress: progress})
	if err != nil && !errors.Is(err, gogit.NoErrAlreadyUpToDate) {
		if err := c.pushFailed(ctx, err, c.opts.Branch, c.head, local, progress); err != nil {
			return PushResult{}, err
		}
	}
	c.head = local
	c.log.Debug("pushed", "branch", c.opts.Branch, "commit", local.String())
	return PushResult{Branch: c.opts.Branch, Commit: local.String(), Pushed: true}, nil
}

func (c *Checkout) pushOwnBranch(ctx context.Context, target string, local plumbing.Hash, lease string, options map[string]string) (PushResult, error) {
	refs, err := c.listRemote(ctx)
	if err != nil {
		return PushResult{}, fmt.Errorf("pushing to %q: listing remote branches: %w", target, err)
	}
	ref := plumbing.NewBranchReferenceName(target)
	tip, exists := refs[ref]
	update := refUpdate{ref: ref, local: local, base: c.head, options: options}
	if exists {
		if _, err := c.repo.CommitObject(tip); err != nil {
			if tip, err = c.fetch(ctx, target); err != nil {
				return PushResult{}, fmt.Errorf("pushing to %q: %w", target, err)
			}
		}
		theirs, err := c.repo.CommitObject(tip)
		if err != nil {
			return PushResult{}, fmt.Errorf("pushing to %q: reading its commit %s: %w", target, tip, err)
		}
		ours, err := c.repo.CommitObject(local)
		if err != nil {
			return PushResult{}, fmt.Errorf("pushing to %q: %w", target, err)
		}
		if local == c.head || sameChange(theirs, ours) {
			// Nothing new (or hoist pushed this very change before).
			return PushResult{Branch: target, Commit: tip.String()}, nil
		}
		if !c.ownsBranch(target, theirs, ours, lease) {
			return PushResult{}, fmt.Errorf("pushing to %q: %w: it points at %s by %s <%s>; hoist will not overwrite it",
				target, ErrBranchNotOwned, tip, theirs.Committer.Name, theirs.Committer.Email)
		}
		update.force = true
	} else {
		tip = plumbing.ZeroHash
		if local == c.head {
			return PushResult{Branch: target}, nil
		}
	}
	update.lease = &tip // plumbing.ZeroHash: the branch must not exist
	progress := &tailBuffer{}
	update.progress = progress
	pctx, cancel := c.netContext(ctx)
	defer cancel()
	err = c.sendPack(pctx, update)
	if err != nil && !errors.Is(err, gogit.NoErrAlreadyUpToDate) {
		if err := c.pushFailed(ctx, err, target, tip, local, progress); err != nil {
			return PushResult{}, err
		}
	}
	if err := c.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.ReferenceName(pushedRefPrefix+target), local)); err != nil {
		c.log.Warn("recording the pushed commit", "branch", target, "error", err.Error())
	}
	c.log.Debug("pushed", "branch", target, "commit", local.String())
	return PushResult{Branch: target, Commit: local.String(), Pushed: true}, nil
}

// sameChange reports whether two commits make the same change: same
// parents, same tree.
func sameChange(a, b *object.Commit) bool {
	if a.TreeHash != b.TreeHash || len(a.ParentHashes) != len(b.ParentHashes) {
		return false
	}
	for i := range a.ParentHashes {
		if a.ParentHashes[i] != b.ParentHashes[i] {
			return false
		}
	}
	return true
}

// ownsBranch reports whether the push branch's tip is hoist's: the lease
// (given, or recorded by this cache) names it, or it is a single-parent
// commit by the same committer as hoist's new commit.
func (c *Checkout) ownsBranch(branch string, theirs, ours *object.Commit, lease string) bool {
	if lease == "" {
		if r, err := c.repo.Reference(plumbing.ReferenceName(pushedRefPrefix+branch), false); err == nil {
			lease = r.Hash().String()
		}
	}
	if lease != "" && lease == theirs.Hash.String() {
		return true
	}
	return len(theirs.ParentHashes) == 1 &&
		theirs.Committer.Name == ours.Committer.Name &&
		theirs.Committer.Email == ours.Committer.Email
}

// pushFailed explains a failed push by looking at the remote: it returns nil
// when the remote branch already points at local (the push landed and only
// the answer was lost), and otherwise an error that wraps ErrRemoteMoved,
// ErrBranchNotFound or ErrPushRejected when one applies.
func (c *Checkout) pushFailed(ctx context.Context, pushErr error, branch string, expected, local plumbing.Hash, progress *tailBuffer) error {
	msgs := progress.remoteMessages()
	refs, err := c.listRemote(ctx)
	if err != nil {
		return fmt.Errorf("pushing to %q: %w%s", branch, pushErr, msgs)
	}
	cur, ok := refs[plumbing.NewBranchReferenceName(branch)]
	switch {
	case ok && cur == local:
		c.log.Debug("push reported an error but the remote has the commit", "branch", branch, "error", c.redact(pushErr).Error())
		return nil
	case !ok && !expected.IsZero() && branch == c.opts.Branch:
		return fmt.Errorf("pushing to %q: %w: it was deleted on the remote", branch, ErrBranchNotFound)
	case !ok && !expected.IsZero():
		return fmt.Errorf("pushing to %q: %w: it was deleted on the remote", branch, ErrRemoteMoved)
	case ok && cur != expected:
		return fmt.Errorf("pushing to %q: %w: it is at %s, the change was made on %s", branch, ErrRemoteMoved, cur, expected)
	}
	if refused(pushErr) {
		return fmt.Errorf("pushing to %q: %w: %v%s", branch, ErrPushRejected, pushErr, msgs)
	}
	return fmt.Errorf("pushing to %q: %w%s", branch, pushErr, msgs)
}

// refused reports whether go-git's push error is the remote's refusal (a
// hook, a protected ref) rather than a transport failure.
func refused(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "command error on") || strings.HasPrefix(s, "unpack error")
}

// listRemote lists the remote's refs.
func (c *Checkout) listRemote(ctx context.Context) (map[plumbing.ReferenceName]plumbing.Hash, error) {
	r, err := c.repo.Remote(remoteName)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.netContext(ctx)
	defer cancel()
	list, err := r.ListContext(ctx, &gogit.ListOptions{
		Auth:            c.auth,
		CABundle:        c.opts.Auth.CABundle,
		InsecureSkipTLS: c.opts.InsecureSkipTLS,
	})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return map[plumbing.ReferenceName]plumbing.Hash{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[plumbing.ReferenceName]plumbing.Hash, len(list))
	for _, ref := range list {
		if ref.Type() == plumbing.HashReference {
			out[ref.Name()] = ref.Hash()
		}
	}
	return out, nil
}

// tailBuffer keeps the last few KiB of the remote's progress messages,
// which carry what hooks print.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailBufferSize = 4 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailBufferSize {
		t.buf = t.buf[len(t.buf)-tailBufferSize:]
	}
	return len(p), nil
}

// remoteMessages formats the messages as "; remote said: ..." or "".
func (t *tailBuffer) remoteMessages() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lines []string
	for _, l := range strings.FieldsFunc(string(t.buf), func(r rune) bool { return r == '\n' || r == '\r' }) {
		l = strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, strings.TrimSpace(l))
		if l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return "; remote said: " + strings.Join(lines, " / ")
}
