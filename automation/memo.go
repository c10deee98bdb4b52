package automation

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"weak"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/writeback/git"
)

// restMemo is what an automation's last run found when its edit changed
// nothing: the inputs of that edit and what it reported. A run whose
// inputs are the same (see Runner.atRest) skips the edit, which would plan
// every target again only to find, again, nothing to write. The service's
// periodic runs at rest are such runs.
//
// The configuration, the automation and the policies are held weakly: a
// reload replaces them, and the memo must not keep the old ones alive (a
// dead pointer misses, and the entry is swept, see rememberRest).
type restMemo struct {
	set weak.Pointer[config.Set]
	a   weak.Pointer[config.Automation]
	// head is the commit the checkout held, and tree the update path's
	// tree in it ("" when unknown, see planner.pathTree): the files the
	// edit read.
	head, tree string
	// selected are the policies the automation selected, and pins the
	// selections its caller knew for them (NAMESPACE:NAME → reference).
	selected []weak.Pointer[config.Policy]
	pins     map[string]string
	// written are the state store's answers the edit asked for
	// (respectManualChanges).
	written []writtenLookup
	// What the run reported: its branch and the changes kept back.
	branch string
	kept   []Kept
}

// writtenLookup is one answer of the state store's Written.
type writtenLookup struct {
	key, value string
	ok         bool
}

// memoizable reports whether the edits of p's automation can be
// remembered at all: only a plain automation, with no argocd method and no
// Applications read (whose inputs live in Argo CD, not in the checkout),
// not a dry run and not one group of a grouped pull request.
func (p *planner) memoizable() bool {
	return !p.r.noRunMemo && !p.r.DryRun && !p.preview && p.only == nil &&
		p.a.ArgoCD == nil && !p.a.ReadsArgoApplications()
}

// atRest answers the outcome of p's edit without making it, when the
// automation's last run edited the checkout and changed nothing, and
// nothing that edit read differs now: the same configuration and
// automation (a reload makes new ones), the same files (the same commit,
// or the same tree of the update path, which holds the repository's own
// documents the edit reads too: another writer's commit elsewhere in the
// repository leaves it), the same selections for the same policies (holds
// and the downgrade guard come with the policies and the files), and the
// same answers of the state store. The planner then holds what that run
// found, as if it had run the edit. When in doubt, it misses.
func (r *Runner) atRest(p *planner, key, head string) (git.Outcome, bool) {
	if head == "" || !p.memoizable() {
		return git.Outcome{}, false
	}
	v, ok := r.rest.Load(key)
	if !ok {
		return git.Outcome{}, false
	}
	m := v.(*restMemo)
	pins, same := m.sameInputs(p.set, p.a, p.known)
	if !same {
		return git.Outcome{}, false
	}
	moved := m.head != head
	if moved && (m.tree == "" || p.pathTree() != m.tree) {
		return git.Outcome{}, false
	}
	if !r.sameWritten(m) {
		return git.Outcome{}, false
	}
	if moved {
		// The same files at another commit: the next run at this one
		// need not look at the tree.
		at := *m
		at.head = head
		r.rest.Store(key, &at)
	}
	r.restHits.Add(1)
	p.attempt, p.pins = 1, pins
	p.errors, p.warnings, p.files = nil, nil, nil
	p.kept = slices.Clone(m.kept)
	return git.Outcome{Branch: m.branch, Attempts: 1, NothingToDo: true}, true
}

// sameWritten reports whether the state store answers what it answered
// m's run.
func (r *Runner) sameWritten(m *restMemo) bool {
	for _, w := range m.written {
		if r.State == nil {
			return false
		}
		rec, ok, err := r.State.Written(w.key)
		if err != nil || ok != w.ok || rec.Value != w.value {
			return false
		}
	}
	return true
}

// restAtRemote answers, without a checkout, a run that expects rest (see
// expectsRest): when the remote's branch is still at the commit the
// automation's rest memo was made at, and the state store answers as it
// did, the run would sync to that very commit and atRest answer its edit
// from the memo. One listing of the remote's references tells so, instead
// of locking, opening and resetting the clone, which were most of the CPU
// of the service's runs at rest. It returns the memo on a hit, and moved
// when the branch is at another commit (the sync then fetches at once,
// without listing again). A branch the listing does not find is a miss
// (the sync says what is wrong); a listing that fails is the run's error.
func (r *Runner) restAtRemote(ctx context.Context, t Target, key string) (m *restMemo, moved bool, err error) {
	v, ok := r.rest.Load(key)
	if !ok {
		return nil, false, nil
	}
	m = v.(*restMemo)
	if !r.sameWritten(m) {
		return nil, false, nil
	}
	head, err := git.RemoteHead(ctx, git.SyncOptions{Remote: t.Remote, Branch: t.Branch, Auth: t.Auth, Timeout: t.Timeout})
	switch {
	case errors.Is(err, git.ErrBranchNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("syncing %s branch %q: %w", t.Remote, t.Branch, err)
	case head != m.head:
		return nil, true, nil
	}
	r.restHits.Add(1)
	r.syncsSkipped.Add(1)
	return m, false, nil
}

// expectsRest reports whether the automation key's edit may be answered
// by its rest memo whatever the checkout's head (see atRest): the same
// configuration, automation and selections as the last run, which found
// nothing to do. Its sync then lists the remote's references first and
// fetches nothing when the branch did not move (git.SyncOptions.ListFirst);
// any other run (a new selection, as after a webhook) fetches at once,
// without that extra request.
func (r *Runner) expectsRest(key string, set *config.Set, a *config.Automation, known Known) bool {
	if r.noRunMemo || r.DryRun {
		return false
	}
	v, ok := r.rest.Load(key)
	if !ok {
		return false
	}
	_, same := v.(*restMemo).sameInputs(set, a, known)
	return same
}

// sameInputs reports whether the run that m remembers had set, a and the
// selections known answers now for the policies it selected, and returns
// those selections (NAMESPACE:NAME → reference).
func (m *restMemo) sameInputs(set *config.Set, a *config.Automation, known Known) (map[string]string, bool) {
	if m.set.Value() != set || m.a.Value() != a {
		return nil, false
	}
	pins := map[string]string{}
	for _, w := range m.selected {
		pol := w.Value()
		if pol == nil {
			return nil, false
		}
		if known != nil {
			if ref, ok := known(pol); ok {
				pins[pol.Namespace+":"+pol.Name] = ref
			}
		}
	}
	return pins, maps.Equal(pins, m.pins)
}

// rememberRest keeps, for the automation key, what p's only edit found at
// head (and the update path's tree there) when it changed nothing (out), or forgets the automation's memo
// when the run cannot be remembered: it changed something, it failed, it
// scanned a registry (a selection the caller did not know), or it has
// errors or warnings (which a run reports and logs afresh).
func (r *Runner) rememberRest(p *planner, key, head string, out git.Outcome, err error) {
	if err != nil || head == "" || !p.memoizable() || !out.NothingToDo || out.Pushed ||
		out.Commit != "" || len(out.Changes) > 0 || out.Attempts != 1 || p.attempt != 1 ||
		p.scanned || len(p.errors) > 0 || len(p.warnings) > 0 {
		r.rest.Delete(key)
		return
	}
	m := &restMemo{
		set:     weak.Make(p.set),
		a:       weak.Make(p.a),
		head:    head,
		tree:    p.pathTree(),
		pins:    maps.Clone(p.pins),
		written: slices.Clone(p.written),
		branch:  out.Branch,
		kept:    slices.Clone(p.kept),
	}
	if m.pins == nil {
		m.pins = map[string]string{}
	}
	for _, pol := range p.selected {
		m.selected = append(m.selected, weak.Make(pol))
	}
	// Sweep the memos of configurations that are gone (reloaded, or
	// automations removed): they can never hit again.
	r.rest.Range(func(k, v any) bool {
		if m := v.(*restMemo); m.set.Value() == nil || m.a.Value() == nil {
			r.rest.Delete(k)
		}
		return true
	})
	r.rest.Store(key, m)
}
