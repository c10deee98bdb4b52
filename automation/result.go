package automation

import (
	"fmt"

	"github.com/hoist-dev/hoist/writeback"
)

// RunResult is what one automation run did.
type RunResult struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Commit is the SHA of hoist's pushed commit ("" when nothing changed).
	Commit string `json:"commit,omitempty"`
	// Branch is the branch pushed to.
	Branch string `json:"branch,omitempty"`
	// Pushed reports a push; NothingToDo that nothing needed to change.
	Pushed      bool `json:"pushed"`
	NothingToDo bool `json:"nothingToDo"`
	// PullRequest is the URL of the pull request opened or updated.
	PullRequest string `json:"pullRequest,omitempty"`
	// Groups are the groups of a run with pullRequest.groupBy policy or
	// path: one branch and pull request each. Commit and Branch are then
	// those of the last group pushed.
	Groups []GroupResult `json:"groups,omitempty"`
	// Attempts counts edits (more than one after lost push races).
	Attempts int `json:"attempts,omitempty"`
	// Changes are the values rewritten.
	Changes []writeback.Change `json:"changes"`
	// Kept are the changes kept back: held, after a manual change, or
	// downgrades (see docs/selection.md).
	Kept []Kept `json:"kept,omitempty"`
	// DryRun marks a run that pushed nothing on purpose; Diff is then the
	// unified diff of the changes it would commit.
	DryRun bool   `json:"dryRun,omitempty"`
	Diff   string `json:"diff,omitempty"`
	// Errors are targets, files or policies that failed; the rest of the
	// automation still ran.
	Errors []*writeback.FileError `json:"-"`
	// Warnings are files skipped with a warning, such as dangling
	// symbolic links; they do not fail the run.
	Warnings []*writeback.FileError `json:"-"`
	// Err is why the automation as a whole failed.
	Err error `json:"-"`
}

// Key is NAMESPACE/NAME.
func (r RunResult) Key() string { return r.Namespace + "/" + r.Name }

// Failed reports whether the automation or any of its targets failed.
func (r RunResult) Failed() bool { return r.Err != nil || len(r.Errors) > 0 }

// fail returns r failed with err, which names the automation.
func (r RunResult) fail(err error) RunResult {
	r.Err = fmt.Errorf("automation %s: %w", r.Key(), err)
	return r
}
