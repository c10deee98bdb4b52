package automation

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/hoist-dev/hoist/automation/state"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/writeback"
	"github.com/hoist-dev/hoist/writeback/git"
	"github.com/hoist-dev/hoist/writeback/pullrequest"
)

// GroupResult is one group of a grouped pull request run
// (pullRequest.groupBy policy or path): its branch, commit and pull
// request.
type GroupResult struct {
	// Group names the group: the policy's name, or the directory.
	Group string `json:"group"`
	// Branch is the group's branch, the pull request's head.
	Branch string `json:"branch"`
	Commit string `json:"commit,omitempty"`
	Pushed bool   `json:"pushed"`
	// PullRequest is the URL of the group's pull request.
	PullRequest string             `json:"pullRequest,omitempty"`
	Changes     []writeback.Change `json:"changes"`
	// Closed reports a pull request hoist opened and closed in this run,
	// because its change is no longer needed.
	Closed bool `json:"closed,omitempty"`
}

// groupBy is the automation's pullRequest.groupBy when it splits the
// changes (policy or path), else "".
func groupBy(a *config.Automation) v1alpha1.PullRequestGroupBy {
	spec := pullRequestSpec(a)
	if spec == nil {
		return ""
	}
	switch spec.GroupBy {
	case v1alpha1.GroupByPolicy, v1alpha1.GroupByPath:
		return spec.GroupBy
	}
	return ""
}

// groupOf names the group of a change (File from the repository's root):
// for policy, the policy's name (NAMESPACE-NAME when the policy is in
// another namespace than the automation, the workload's name for an
// annotated workload); for path, the file's directory.
func groupOf(by v1alpha1.PullRequestGroupBy, a *config.Automation, c writeback.Change) string {
	if by == v1alpha1.GroupByPath {
		if d := path.Dir(c.File); d != "." {
			return d
		}
		return "root"
	}
	if ns, n, ok := cutKey(c.Policy); ok {
		if ns == a.Namespace {
			return n
		}
		return ns + "-" + n
	}
	if c.Object.Name != "" {
		return c.Object.Name
	}
	return "inline"
}

// groupBranch is the branch of a group: PREFIX/GROUP, where PREFIX is
// push.branch, else hoist/AUTOMATION; characters a branch name cannot hold
// become "-", and so does a path group's "/": the groups of nested
// directories (a/b and a/b/c) would otherwise need a branch that is also
// another's directory (refs/heads/PREFIX/a/b and PREFIX/a/b/c), which Git
// refuses.
func groupBranch(a *config.Automation, group string) string {
	prefix := "hoist/" + a.Name
	if a.Spec.Git != nil && a.Spec.Git.Push != nil && a.Spec.Git.Push.Branch != "" {
		prefix = a.Spec.Git.Push.Branch
	}
	var b strings.Builder
	for _, r := range group {
		if r <= 0x20 || r == 0x7f || strings.ContainsRune("~^:?*[\\@{}", r) {
			r = '-'
		}
		b.WriteRune(r)
	}
	var parts []string
	for _, part := range strings.Split(b.String(), "/") {
		part = strings.TrimSuffix(strings.Trim(part, "."), ".lock")
		for strings.Contains(part, "..") {
			part = strings.ReplaceAll(part, "..", ".")
		}
		if part != "" {
			parts = append(parts, part)
		}
	}
	if len(parts) == 0 {
		parts = []string{"root"}
	}
	return prefix + "/" + strings.Join(parts, "-")
}

// runGrouped is the end of a run whose pull requests are grouped: plan
// every change once without writing, then, per group, write its changes
// alone on the base, commit and push them to the group's branch and open or
// update its pull request; last, close the pull requests hoist opened for
// groups that no longer have a change.
func (r *Runner) runGrouped(ctx context.Context, co *git.Checkout, a *config.Automation, t Target, pub publish, p *planner, res RunResult, log *slog.Logger) (RunResult, error) {
	by := groupBy(a)
	p.preview = true
	all, err := p.edit(ctx, co.Dir())
	p.preview = false
	res.Errors, res.Warnings, res.Kept = p.errors, p.warnings, slices.Clone(p.kept)
	if err != nil {
		return res, err
	}
	var groups []string
	changed := map[string]bool{}
	for _, c := range all {
		g := groupOf(by, a, c)
		if !changed[g] {
			changed[g] = true
			groups = append(groups, g)
		}
	}
	kept := map[string]bool{}
	for _, k := range res.Kept {
		kept[groupBranch(a, groupOf(by, a, k.Change))] = true
	}
	slices.Sort(groups)
	res.Branch = t.Branch
	res.NothingToDo = true
	for _, g := range groups {
		gr, err := r.pushGroup(ctx, co, a, t, pub, p, by, g, res.Key(), log)
		res.Groups = append(res.Groups, gr)
		res.Changes = append(res.Changes, gr.Changes...)
		if gr.Pushed {
			res.Pushed, res.Commit, res.Branch = true, gr.Commit, gr.Branch
		}
		if len(gr.Changes) > 0 {
			res.NothingToDo = false
		}
		if err != nil {
			return res, err
		}
	}
	res.Errors, res.Warnings = p.errors, p.warnings
	if len(res.Errors) > 0 {
		// A policy that failed selected nothing: its group is not
		// known to be done, so nothing is closed.
		return res, nil
	}
	closed, err := r.closeStale(ctx, a, t, res.Key(), groups, kept, log)
	for _, branch := range closed {
		res.Groups = append(res.Groups, GroupResult{Branch: branch, Closed: true})
	}
	return res, err
}

// pushGroup writes, commits and pushes one group's changes to its branch
// and opens or updates its pull request.
func (r *Runner) pushGroup(ctx context.Context, co *git.Checkout, a *config.Automation, t Target, pub publish, p *planner, by v1alpha1.PullRequestGroupBy, group, key string, log *slog.Logger) (GroupResult, error) {
	branch := groupBranch(a, group)
	gr := GroupResult{Group: group, Branch: branch}
	p.only = func(c writeback.Change) bool { return groupOf(by, a, c) == group }
	defer func() { p.only = nil }()
	push := pub.push
	push.Branch, push.Lease = branch, ""
	leaseKey := key + " " + branch
	if r.State != nil {
		if rec, ok, err := r.State.LastPush(leaseKey); err == nil && ok && rec.Branch == branch {
			push.Lease = rec.Commit
		}
	}
	outcome, err := co.Update(ctx, p.edit, git.UpdateOptions{Commit: pub.commit, Push: push})
	gr.Commit, gr.Pushed, gr.Changes = outcome.Commit, outcome.Pushed, outcome.Changes
	if err != nil {
		r.Metrics.Push(key, err)
		return gr, fmt.Errorf("group %s (branch %s): %w", group, branch, err)
	}
	if gr.Pushed {
		r.Metrics.Commit(key)
		r.Metrics.Push(key, nil)
		log.Info("commit pushed", "group", group, "commit", gr.Commit, "branch", branch, "changes", len(gr.Changes))
		if r.State != nil {
			if err := r.State.PutLastPush(leaseKey, state.PushRecord{Commit: gr.Commit, Branch: branch, At: r.now()}); err != nil {
				log.Warn("recording the push in the state store", "error", err)
			}
		}
	}
	if len(gr.Changes) == 0 || (!gr.Pushed && gr.Commit == "") {
		return gr, nil
	}
	res := RunResult{Namespace: a.Namespace, Name: a.Name, Changes: gr.Changes}
	pr, err := r.ensureGroupPullRequest(ctx, a, t, group, branch, res)
	r.Metrics.PullRequest(key, err)
	if err != nil {
		return gr, err
	}
	gr.PullRequest = git.RedactURL(pr.URL)
	logPullRequest(log, pr, branch, gr.PullRequest, "group", group)
	if r.State != nil {
		if err := r.notePullRequest(key, branch, t.Branch, pr); err != nil {
			log.Warn("recording the pull request in the state store", "error", err)
		}
	}
	return gr, nil
}

// ensureGroupPullRequest opens or updates a group's pull request: the
// automation's title (default "Update images (NAMESPACE/NAME)") with
// ": GROUP" after it, and the group's changes in the body.
func (r *Runner) ensureGroupPullRequest(ctx context.Context, a *config.Automation, t Target, group, branch string, res RunResult) (pullrequest.PR, error) {
	provider, err := r.provider(a, t)
	if err != nil {
		return pullrequest.PR{}, err
	}
	spec := pullRequestSpec(a)
	title := spec.Title
	if title == "" {
		title = fmt.Sprintf("Update images (%s/%s)", a.Namespace, a.Name)
	}
	title += ": " + group
	pr, err := provider.EnsurePullRequest(ctx, r.pullRequestRequest(a, t, branch, title, res))
	if err != nil {
		return pr, fmt.Errorf("pull request from %s into %s: %w", branch, t.Branch, err)
	}
	return pr, nil
}

// notePullRequest remembers a pull request hoist opened (and keeps the
// record of one it opened before); one it found open, a person's, is not
// recorded, so hoist never closes it.
func (r *Runner) notePullRequest(key, head, base string, pr pullrequest.PR) error {
	prs, err := r.State.PullRequests(key)
	if err != nil {
		return err
	}
	if rec, ok := prs[head]; !pr.Created && (!ok || rec.Number != pr.Number) {
		return nil
	}
	prs[head] = state.PullRequestRecord{Head: head, Base: base, Number: pr.Number, URL: git.RedactURL(pr.URL), At: r.now()}
	return r.State.PutPullRequests(key, prs)
}

// closeStale closes the pull requests hoist opened for groups that have no
// change any more (the selection is what the base branch has) and none
// kept back, and forgets them. It returns the branches whose pull request
// it closed.
func (r *Runner) closeStale(ctx context.Context, a *config.Automation, t Target, key string, groups []string, kept map[string]bool, log *slog.Logger) ([]string, error) {
	if r.State == nil {
		return nil, nil
	}
	prs, err := r.State.PullRequests(key)
	if err != nil || len(prs) == 0 {
		return nil, err
	}
	live := map[string]bool{}
	for _, g := range groups {
		live[groupBranch(a, g)] = true
	}
	var provider pullrequest.Provider
	var closed []string
	heads := slices.Sorted(maps.Keys(prs))
	for _, head := range heads {
		rec := prs[head]
		if live[head] || kept[head] || rec.Base != t.Branch {
			continue
		}
		if provider == nil {
			if provider, err = r.provider(a, t); err != nil {
				return closed, err
			}
		}
		done, err := provider.ClosePullRequest(ctx, pullrequest.Request{Head: head, Base: rec.Base}, rec.Number)
		if err != nil {
			return closed, fmt.Errorf("closing pull request #%d from %s: %w", rec.Number, head, err)
		}
		if done {
			closed = append(closed, head)
			log.Info("pull request closed: its change is no longer needed", "branch", head, "number", rec.Number)
		}
		delete(prs, head)
	}
	return closed, r.State.PutPullRequests(key, prs)
}
