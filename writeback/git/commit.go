package git

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/hoist-dev/hoist/writeback"
)

// Commit stages the files of changes, or, when changes is empty, every
// change in the worktree (new, modified and deleted files, which after Sync
// or Reset are only the caller's; finding them walks the whole worktree),
// and commits them on the checkout branch with a message rendered from opts.MessageTemplate and
// changes. It returns the new commit's SHA, or ErrNothingToCommit when the
// worktree has no change. A message that contains one of Auth's secrets is
// refused with ErrCredentialInMessage.
func (c *Checkout) Commit(ctx context.Context, changes []writeback.Change, opts CommitOptions) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if err := opts.Validate(); err != nil {
		return "", err
	}
	msg, err := RenderMessage(opts.MessageTemplate, TemplateData{
		AutomationObject: opts.Automation,
		Changed:          NewResult(changes),
		Values:           opts.Values,
		AppName:          opts.App.Name,
		AppNamespace:     opts.App.Namespace,
		AppChanges:       appChanges(changes),
	})
	if err != nil {
		return "", err
	}
	for _, s := range c.opts.secrets() {
		if len(s) >= 4 && strings.Contains(msg, s) {
			return "", ErrCredentialInMessage
		}
	}

	wt, err := c.repo.Worktree()
	if err != nil {
		return "", c.redact(fmt.Errorf("committing: %w", err))
	}
	if err := c.markDirty(); err != nil {
		return "", err
	}
	paths, deleted, err := c.toStage(wt, changes)
	if err != nil {
		return "", err
	}
	if len(paths) == 0 {
		return "", ErrNothingToCommit
	}
	for _, p := range paths {
		if deleted[p] {
			_, err = wt.Remove(p)
		} else {
			err = wt.AddWithOptions(&gogit.AddOptions{Path: p, SkipStatus: true})
		}
		if err != nil {
			return "", c.redact(fmt.Errorf("committing: staging %q: %w", p, err))
		}
	}
	sig := &object.Signature{Name: opts.Author.Name, Email: opts.Author.Email, When: opts.Now()}
	co := &gogit.CommitOptions{Author: sig, Committer: sig}
	if opts.Signer != nil {
		co.Signer = opts.Signer
	}
	h, err := wt.Commit(msg, co)
	if errors.Is(err, gogit.ErrEmptyCommit) {
		// Staging cancelled out, such as a file written back with its old
		// content.
		return "", ErrNothingToCommit
	}
	if err != nil {
		return "", c.redact(fmt.Errorf("committing: %w", err))
	}
	c.log.Debug("committed", "commit", h.String(), "files", len(paths))
	return h.String(), nil
}

// toStage lists the paths to stage, sorted, and which of them are deleted:
// the files of changes when there are any (no walk of the worktree), else
// every path the worktree status shows changed.
func (c *Checkout) toStage(wt *gogit.Worktree, changes []writeback.Change) ([]string, map[string]bool, error) {
	deleted := map[string]bool{}
	if len(changes) > 0 {
		seen := map[string]bool{}
		var paths []string
		for _, ch := range changes {
			p := filepath.ToSlash(filepath.Clean(ch.File))
			if seen[p] {
				continue
			}
			seen[p] = true
			if !filepath.IsLocal(p) {
				return nil, nil, fmt.Errorf("committing: change of %q: %w: not a path inside the worktree", ch.File, ErrInvalidOptions)
			}
			if _, err := os.Lstat(filepath.Join(c.dir, filepath.FromSlash(p))); errors.Is(err, os.ErrNotExist) {
				deleted[p] = true
			}
			paths = append(paths, p)
		}
		sort.Strings(paths)
		return paths, deleted, nil
	}
	status, err := wt.Status()
	if err != nil {
		return nil, nil, c.redact(fmt.Errorf("committing: reading worktree status: %w", err))
	}
	paths := make([]string, 0, len(status))
	for p, s := range status {
		if s.Worktree != gogit.Unmodified || s.Staging != gogit.Unmodified {
			paths = append(paths, p)
			deleted[p] = s.Worktree == gogit.Deleted
		}
	}
	sort.Strings(paths)
	return paths, deleted, nil
}
