package automation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
	"weak"

	"github.com/hoist-dev/hoist/automation/state"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/writeback"
	"github.com/hoist-dev/hoist/writeback/git"
)

// The steps of a run, in the order RunKnown takes them. Each takes the
// values the steps before it computed.

// sync clones or fetches the target's branch into the Git cache.
func (r *Runner) sync(ctx context.Context, t Target, log *slog.Logger, atRest bool) (*git.Checkout, error) {
	clones := &r.clones
	if r.reopenClones {
		clones = nil
	}
	return git.Sync(ctx, git.SyncOptions{
		Remote:    t.Remote,
		Branch:    t.Branch,
		CacheDir:  filepath.Join(r.StateDir, "git"),
		Auth:      t.Auth,
		Timeout:   t.Timeout,
		Logger:    log,
		ListFirst: atRest,
		Clones:    clones,
	})
}

// publish is how a run's edits are committed and pushed.
type publish struct {
	commit git.CommitOptions
	push   git.PushOptions
	// base is the checkout branch, which a pull request goes into.
	base string
	// pullRequest is set when the automation asks for pull requests
	// and pushes to a branch of its own.
	pullRequest bool
}

// publishing reads how the automation commits (author, message, signing
// key) and pushes (branch, refspec, options, and the lease of its own push
// branch from the state store).
func (r *Runner) publishing(a *config.Automation, t Target, key string) (publish, error) {
	commit, err := r.commitOptions(a)
	if err != nil {
		return publish{}, err
	}
	pub := publish{commit: commit, base: t.Branch}
	if a.Spec.Git != nil && a.Spec.Git.Push != nil {
		pub.push.Branch = a.Spec.Git.Push.Branch
		pub.push.Refspec = a.Spec.Git.Push.Refspec
		pub.push.Options = a.Spec.Git.Push.Options
	}
	if pub.push.Branch != "" && r.State != nil {
		if rec, ok, err := r.State.LastPush(key); err == nil && ok && rec.Branch == pub.push.Branch {
			pub.push.Lease = rec.Commit
		}
	}
	pub.pullRequest = pullRequestSpec(a) != nil && pub.push.Branch != "" && pub.push.Branch != t.Branch
	return pub, nil
}

func (r *Runner) commitOptions(a *config.Automation) (git.CommitOptions, error) {
	o := git.CommitOptions{
		Automation: git.NamespacedName{Namespace: a.Namespace, Name: a.Name},
		Now:        r.Now,
	}
	if a.Spec.Git == nil {
		return o, errors.New("spec.git is required (commit author)")
	}
	c := a.Spec.Git.Commit
	o.Author = git.Signature{Name: c.Author.Name, Email: c.Author.Email}
	if o.Author.Name == "" {
		o.Author.Name = "hoist"
	}
	o.MessageTemplate = c.MessageTemplate
	o.Values = c.MessageTemplateValues
	if a.ArgoCD != nil {
		o.App = git.NamespacedName{Namespace: a.ArgoCD.AppNamespace, Name: a.ArgoCD.App}
	}
	if c.SigningKey != nil {
		if r.SecretsDir == "" {
			return o, fmt.Errorf("signingKey secretRef %q needs --secrets-dir", c.SigningKey.SecretRef.Name)
		}
		s, err := git.SignerFromSecretDir(filepath.Join(r.SecretsDir, c.SigningKey.SecretRef.Name), r.Now)
		if err != nil {
			return o, err
		}
		o.Signer = s
	}
	return o, nil
}

// preview is the dry run's end: plan on the checkout, report the changes
// and their diff, and write nothing.
func (r *Runner) preview(ctx context.Context, co *git.Checkout, p *planner, pub publish, res RunResult) RunResult {
	changes, err := p.edit(ctx, co.Dir())
	res.DryRun, res.Errors, res.Warnings, res.Changes, res.Kept = true, p.errors, p.warnings, changes, p.kept
	res.NothingToDo = len(changes) == 0
	res.Branch = cmp.Or(pub.push.Branch, pub.base)
	if err != nil {
		return res.fail(err)
	}
	var diff strings.Builder
	for _, f := range p.files {
		if f.Err == nil && len(f.Changes) > 0 {
			diff.WriteString(writeback.Diff(path.Join(p.rel, f.Path), f.Old, f.New))
		}
	}
	res.Diff = diff.String()
	return res
}

// commitAndPush plans and writes (p.edit), commits and pushes, planning
// again on the new head when another writer wins the race. A run whose
// edit would read what the last one read, which changed nothing, skips it
// and reports what that one did (atRest).
func (r *Runner) commitAndPush(ctx context.Context, co *git.Checkout, p *planner, pub publish, res RunResult, log *slog.Logger) (RunResult, error) {
	head := co.Head()
	outcome, rest := r.atRest(p, res.Key(), head)
	var err error
	start := r.now()
	if !rest {
		outcome, err = co.Update(ctx, p.edit, git.UpdateOptions{Commit: pub.commit, Push: pub.push})
		r.rememberRest(p, res.Key(), head, outcome, err)
	}
	res.Errors, res.Warnings, res.Kept = p.errors, p.warnings, p.kept
	res.Commit, res.Branch, res.Pushed, res.NothingToDo, res.Attempts = outcome.Commit, outcome.Branch, outcome.Pushed, outcome.NothingToDo, outcome.Attempts
	res.Changes = outcome.Changes
	for i := 1; i < outcome.Attempts; i++ {
		r.Metrics.PushRetry(res.Key())
	}
	if err != nil {
		r.Metrics.Push(res.Key(), err)
		return res, err
	}
	if res.Pushed {
		r.Metrics.Commit(res.Key())
		r.Metrics.Push(res.Key(), nil)
		// How long the run's steps took: the sync (fetch and worktree),
		// the edits, and the commits and pushes (with the fetches of lost
		// races).
		log.Info("commit pushed", "commit", res.Commit, "branch", res.Branch, "changes", len(res.Changes), "attempts", res.Attempts,
			"sync", p.synced.Round(time.Microsecond), "edit", p.edited.Round(time.Microsecond), "publish", (r.now().Sub(start) - p.edited).Round(time.Microsecond))
	}
	return res, nil
}

// pushRecord is what a run that pushed res remembers: the commit pushed,
// the lease of the push branch for the next run, and, for a push to the
// checked-out branch, the values written (respectManualChanges compares
// Git's values with them).
func (r *Runner) pushRecord(a *config.Automation, t Target, res RunResult) state.RunRecord {
	if !res.Pushed {
		return state.RunRecord{}
	}
	rec := state.RunRecord{Push: &state.PushRecord{Commit: res.Commit, Branch: res.Branch, At: r.now()}}
	if res.Branch == t.Branch {
		rec.Written = map[string]state.WrittenRecord{}
		for _, c := range res.Changes {
			rec.Written[writtenKey(a, c)] = state.WrittenRecord{Value: c.New, At: r.now()}
		}
	}
	return rec
}

// recordRun stores rec in the state store and, when the run ends (last)
// without errors, its success too (and the metric), in one write: each
// write waits for the disk.
func (r *Runner) recordRun(res RunResult, rec state.RunRecord, last bool, log *slog.Logger) {
	success := last && !res.Failed()
	if success {
		rec.Success = r.now()
	}
	if r.State != nil {
		if err := r.State.PutRun(res.Key(), rec); err != nil {
			log.Warn("recording the run in the state store", "error", err)
		}
	}
	if success {
		r.Metrics.LastSuccess(res.Key(), rec.Success)
	}
}

// docsKey is what a repository's documents are loaded from, besides the
// configuration and the commit: the clone, the update path in it (as
// writeback.ResolveIn returns it) and the load options.
type docsKey struct {
	dir, rel string
	o        config.LoadOptions
}

// docsEntry is what loadRepoDocuments returned for a docsKey at the commit
// head onto the configuration base. The configuration is held weakly: a
// reload replaces it, and the entry must not keep the old one alive.
type docsEntry struct {
	head string
	base weak.Pointer[config.Set]
	// set is the effective set, nil when the files held no documents (the
	// answer is base itself).
	set *config.Set
}

// repoDocuments is loadRepoDocuments, remembered per clone, update path and
// options at a version of the update path (head: its tree, or the commit):
// a run whose update path did not change, on the same configuration, walks
// and parses nothing. It relies on the worktree matching the head commit
// whenever a run plans (git's Update edits a worktree reset to its head,
// and a run writes files nowhere else); an empty head reads the files. A
// failed load is not remembered.
func (r *Runner) repoDocuments(base *config.Set, dir, rel, head string, o config.LoadOptions) (*config.Set, error) {
	if head == "" || r.noDocCache {
		return loadRepoDocuments(base, dir, rel, o)
	}
	key := docsKey{dir: dir, rel: rel, o: o}
	if v, ok := r.docs.Load(key); ok {
		if e := v.(*docsEntry); e.head == head && e.base.Value() == base {
			if e.set == nil {
				return base, nil
			}
			return e.set, nil
		}
	}
	set, err := loadRepoDocuments(base, dir, rel, o)
	if err != nil {
		return nil, err
	}
	e := &docsEntry{head: head, base: weak.Make(base)}
	if set != base {
		e.set = set
	}
	r.docs.Store(key, e)
	return set, nil
}

// loadRepoDocuments loads the documents under rel (a directory of the clone
// dir, as ResolveIn returns it) onto set, as o says, reading through dir
// opened as an os.Root, so that no link leads the reading out of the
// clone.
func loadRepoDocuments(set *config.Set, dir, rel string, o config.LoadOptions) (*config.Set, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }() // read only
	return config.LoadOntoFSWith(set, r.FS(), rel, o)
}
