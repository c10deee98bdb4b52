package git

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hoist-dev/hoist/writeback"
)

// EditFunc edits files in the worktree at dir, which is at the head of the
// checkout branch, and returns what it changed: every file it wrote is in a
// Change, and only those files are committed. An edit that returns no
// change must have written nothing. It is called again, on the new head,
// when a push loses a race, so it must plan its edits from the files as
// they are rather than replay earlier ones.
type EditFunc func(ctx context.Context, dir string) ([]writeback.Change, error)

// Outcome is what Update did.
type Outcome struct {
	// Commit is the SHA of hoist's commit on the remote branch, or, when
	// NothingToDo, what the push branch already points at (empty when
	// there was nothing to commit).
	Commit string
	// Branch is the branch pushed to.
	Branch string
	// Pushed reports that the remote branch was updated.
	Pushed bool
	// Attempts counts the edits made (more than one after lost races).
	Attempts int
	// NothingToDo reports that the edit changed nothing, or that the push
	// branch already held the same change.
	NothingToDo bool
	// Changes are the changes of the last edit.
	Changes []writeback.Change
}

// Update edits, commits and pushes, re-planning when another writer wins a
// race: when the push fails with ErrRemoteMoved it waits (opts.Backoff,
// doubling), fetches, resets the worktree to the new remote head, calls edit
// again, commits and pushes again, at most opts.MaxAttempts times, after
// which the error wraps ErrTooManyAttempts. Another writer's commit is never
// overwritten: hoist's commit always goes on top of the remote head.
//
// Whatever happens, the worktree is left clean at the remote head: after a
// successful push that is hoist's commit; after a failure, the commit Sync
// or the last fetch found.
func (c *Checkout) Update(ctx context.Context, edit EditFunc, opts UpdateOptions) (Outcome, error) {
	if err := opts.Validate(); err != nil {
		return Outcome{}, err
	}
	if opts.Push.Refspec != "" {
		if _, err := opts.Push.refspecTarget(c.opts.Branch); err != nil {
			return Outcome{}, err
		}
	}
	branch := opts.Push.Branch
	if branch == "" {
		branch = c.opts.Branch
		if opts.Push.Refspec != "" {
			// Only the refspec is pushed (validated above).
			ref, _ := opts.Push.refspecTarget(c.opts.Branch)
			branch = ref.String()
			if ref.IsBranch() {
				branch = ref.Short()
			}
		}
	}
	out := Outcome{Branch: branch}
	backoff := opts.Backoff
	for {
		out.Attempts++
		res, changes, err := c.attempt(ctx, edit, opts)
		out.Changes = changes
		if err == nil {
			out.Commit = res.Commit
			out.Pushed = res.Pushed
			out.NothingToDo = !res.Pushed
			return out, nil
		}
		if errors.Is(err, ErrNothingToCommit) {
			out.NothingToDo = true
			return out, nil
		}
		if !errors.Is(err, ErrRemoteMoved) {
			return out, err
		}
		if out.Attempts >= opts.MaxAttempts {
			n := fmt.Sprintf("%d attempts", out.Attempts)
			if out.Attempts == 1 {
				n = "1 attempt"
			}
			return out, fmt.Errorf("%w after %s: %w", ErrTooManyAttempts, n, err)
		}
		c.log.Info("remote moved while pushing; re-planning on the new head", "branch", branch, "attempt", out.Attempts, "wait", backoff.String())
		if err := opts.Sleep(ctx, backoff); err != nil {
			return out, err
		}
		backoff = min(2*backoff, 30*time.Second)
		if err := c.Refresh(ctx); err != nil {
			return out, err
		}
	}
}

// attempt runs one edit, commit and push. Unless it pushed to the checkout
// branch (whose head is then hoist's commit), the worktree is reset to Head.
func (c *Checkout) attempt(ctx context.Context, edit EditFunc, opts UpdateOptions) (res PushResult, changes []writeback.Change, err error) {
	wasClean := !c.exposed && c.cleanAt() == c.head
	if err := c.markDirty(); err != nil {
		return PushResult{}, nil, err
	}
	defer func() {
		if err == nil && len(changes) == 0 && wasClean {
			// The edit changed nothing, so wrote nothing: the worktree
			// is still clean, and no walk is needed to reset it.
			err = ErrNothingToCommit
			if merr := c.markClean(c.head); merr != nil {
				err = merr
			}
			return
		}
		if err != nil || !res.Pushed || res.Branch != c.opts.Branch {
			if rerr := c.Reset(); rerr != nil {
				err = errors.Join(err, rerr)
			}
			return
		}
		if wasClean {
			// Pushed to the checkout branch: the worktree holds the
			// commit, which is the clean parent plus the staged files of
			// the changes, every file the edit wrote (EditFunc's
			// contract).
			if merr := c.markClean(c.head); merr != nil {
				err = merr
			}
		}
	}()
	changes, err = edit(ctx, c.dir)
	if err != nil {
		return PushResult{}, changes, fmt.Errorf("editing files: %w", err)
	}
	if len(changes) == 0 && wasClean {
		return PushResult{}, nil, nil
	}
	if _, err := c.Commit(ctx, changes, opts.Commit); err != nil {
		return PushResult{}, changes, err
	}
	res, err = c.Push(ctx, opts.Push)
	return res, changes, err
}
