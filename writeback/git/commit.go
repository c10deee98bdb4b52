package git

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Commit stages every change in the worktree (new, modified and deleted
// files, which after Sync or Reset are only the caller's) and commits it on
// the checkout branch with a message rendered from opts.MessageTemplate and
// changes. It returns the new commit's SHA, or ErrNothingToCommit when the
// worktree has no change. A message that contains one of Auth's secrets is
// refused with ErrCredentialInMessage.
func (c *Checkout) Commit(ctx context.Context, changes []Change, opts CommitOptions) (string, error) {
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
	})
	if err != nil {
		return "", err
	}
	for _, s := range c.opts.Auth.secrets() {
		if len(s) >= 4 && strings.Contains(msg, s) {
			return "", ErrCredentialInMessage
		}
	}

	wt, err := c.repo.Worktree()
	if err != nil {
		return "", c.redact(fmt.Errorf("committing: %w", err))
	}
	status, err := wt.Status()
	if err != nil {
		return "", c.redact(fmt.Errorf("committing: reading worktree status: %w", err))
	}
	paths := make([]string, 0, len(status))
	for p, s := range status {
		if s.Worktree != gogit.Unmodified || s.Staging != gogit.Unmodified {
			paths = append(paths, p)
		}
	}
	if len(paths) == 0 {
		return "", ErrNothingToCommit
	}
	sort.Strings(paths)
	for _, p := range paths {
		if status[p].Worktree == gogit.Deleted {
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
