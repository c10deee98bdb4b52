package automation

import (
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/writeback"
)

// SelectionMemoHits counts the selections s answered from its memo.
func SelectionMemoHits(s *Scanner) int {
	s.memo.mu.Lock()
	defer s.memo.mu.Unlock()
	return s.memo.hits
}

// UnchangedLists counts the tag lists s was told were unchanged (not
// decoded, see Repo.KnownSum).
func UnchangedLists(s *Scanner) int {
	s.lists.mu.Lock()
	defer s.lists.mu.Unlock()
	return s.lists.unchanged
}

// ForgetLists drops what s kept of the last tag lists, so that its next
// scan decodes every list (the selection memo stays).
func ForgetLists(s *Scanner) {
	s.lists.mu.Lock()
	defer s.lists.mu.Unlock()
	s.lists.m = nil
}

// ReadDocumentsEveryRun makes r load the repository's documents on every
// run, as before they were remembered per commit.
func ReadDocumentsEveryRun(r *Runner) { r.noDocCache = true }

// Remembered counts the policies in s's selection memo and the
// repositories in its list memo.
func Remembered(s *Scanner) (policies, lists int) {
	s.memo.mu.Lock()
	policies = len(s.memo.m)
	s.memo.mu.Unlock()
	s.lists.mu.Lock()
	defer s.lists.mu.Unlock()
	return policies, len(s.lists.m)
}

// EditsSkipped counts the runs of r that skipped their edit, at rest
// (nothing the last edit read, which changed nothing, differs).
func EditsSkipped(r *Runner) int { return int(r.restHits.Load()) }

// SyncsSkipped counts the runs of r answered at rest by a listing of the
// remote alone, without a checkout (see restAtRemote).
func SyncsSkipped(r *Runner) int { return int(r.syncsSkipped.Load()) }

// ReopenClonesEveryRun makes r open its Git clone afresh on every run, as
// before opened clones were kept.
func ReopenClonesEveryRun(r *Runner) { r.reopenClones = true }

// ForgetClones drops the Git clones r keeps open.
func ForgetClones(r *Runner) { r.clones.Reset() }

// EditEveryRun makes r edit on every run, as before runs at rest were
// remembered.
func EditEveryRun(r *Runner) { r.noRunMemo = true }

// RestByCommit makes r remember a run at rest at the checkout's commit,
// not its update path's tree, as before: another writer's commit anywhere
// in the repository makes the next run edit again.
func RestByCommit(r *Runner) { r.restByCommit = true }

// WrittenKey is the state store's key of the value hoist wrote to the
// target of c (File from the repository's root) for a.
func WrittenKey(a *config.Automation, c writeback.Change) string { return writtenKey(a, c) }

// ExpectsRest reports whether r's next run of a would list the remote's
// references before fetching (git.SyncOptions.ListFirst).
func ExpectsRest(r *Runner, set *config.Set, a *config.Automation, known Known) bool {
	return r.expectsRest(a.Namespace+"/"+a.Name, set, a, known)
}
