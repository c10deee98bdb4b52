package automation

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hoist-dev/hoist/automation/state"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/notify"
	"github.com/hoist-dev/hoist/writeback"
	"github.com/hoist-dev/hoist/writeback/git"
)

// Runner runs ImageUpdateAutomations: sync the Git repository, load the
// policies the automation selects (from the configuration and from the
// repository itself), scan, plan, write, commit, push, and open or update a
// pull request. The command line (hoist run --once) and the service drive
// automations through it. Build it with New, or fill it by hand.
type Runner struct {
	// Scanner scans registries (required).
	Scanner *Scanner
	// StateDir holds the Git cache (StateDir/git) (required).
	StateDir string
	// SecretsDir holds secrets named by secretRef (DIR/NAME/KEY).
	SecretsDir string
	// GitAuth is used for automations whose Git repository names no
	// secretRef (a token from a file or an environment variable).
	GitAuth git.Auth
	// State, when set, records last pushes (the lease of push branches)
	// and successes across restarts.
	State *state.Store
	// Logger receives one line per decision worth knowing; nil discards.
	Logger *slog.Logger
	// Metrics, when set, counts commits, pushes and pull requests.
	Metrics *Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DryRun syncs, scans and plans, and reports the changes and their
	// diff, but writes, commits and pushes nothing.
	DryRun bool
	// Notifier, when set, sends the events of each run to the Alerts of
	// the configuration (see RunEvents).
	Notifier *notify.Notifier
	// Applications patches Argo CD Applications written with the argocd
	// method (the controller's); nil fails them with ErrArgoCDMethod.
	Applications ArgoApplications

	// indexes remember, per worktree update path, which files hold
	// targets, so that a later run reads only files that changed.
	indexes sync.Map // string -> *writeback.Index
	// docs remember the repository's own documents that each clone's
	// update path held at a commit (see repoDocuments).
	docs sync.Map // docsKey -> *docsEntry
	// noDocCache reads the documents on every run (benchmarks compare).
	noDocCache bool
	// rest remembers, per automation (NAMESPACE/NAME), the inputs of its
	// last edit that changed nothing, so that a run with the same inputs
	// skips it (see atRest); restHits counts the edits skipped.
	rest     sync.Map // string -> *restMemo
	restHits atomic.Int64
	// syncsSkipped counts the runs at rest answered without a checkout
	// (see restAtRemote).
	syncsSkipped atomic.Int64
	// noRunMemo makes every run edit (benchmarks and tests compare).
	noRunMemo bool
	// restByCommit keys the memo of a run at rest by the checkout's
	// commit, not the update path's tree (benchmarks compare).
	restByCommit bool
	// clones keeps the opened Git clones between runs (runs on one clone
	// take turns: git.Sync locks it), so that a run does not open its
	// clone and index its packfiles again.
	clones git.Clones
	// reopenClones opens the clone afresh on every run (benchmarks
	// compare).
	reopenClones bool
	// apps keep each GitHub App across runs, by its CacheKey, so that its
	// installation token is minted once and refreshed shortly before it
	// expires, not once per run.
	apps sync.Map // string -> *git.GitHubApp
}

// index returns the target index of root with the include globs, made on
// first use.
func (r *Runner) index(root string, include []string) *writeback.Index {
	key := root
	if len(include) > 0 {
		key += "\x00" + strings.Join(include, "\x00")
	}
	if x, ok := r.indexes.Load(key); ok {
		return x.(*writeback.Index)
	}
	x, _ := r.indexes.LoadOrStore(key, writeback.NewIndex(root, writeback.ScanOptions{Include: include}))
	return x.(*writeback.Index)
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// RunAllParallelism bounds the Git repositories RunAll works on at once.
const RunAllParallelism = 4

// RunAll runs every automation of set that is not suspended and returns one
// result each, in document order. Automations that write to the same Git
// repository and branch run one after another, in document order; the
// others run in parallel, up to RunAllParallelism repositories at once.
func (r *Runner) RunAll(ctx context.Context, set *config.Set) []RunResult {
	var (
		active []*config.Automation
		groups = map[string][]int{} // GitKey → indexes into active
		order  []string
	)
	for _, a := range set.Automations {
		if a.Spec.Suspend {
			r.logger().Info("automation suspended", "automation", a.Namespace+"/"+a.Name)
			continue
		}
		key := GitKey(a)
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], len(active))
		active = append(active, a)
	}
	out := make([]RunResult, len(active))
	sem := make(chan struct{}, RunAllParallelism)
	var wg sync.WaitGroup
	for _, key := range order {
		wg.Add(1)
		sem <- struct{}{}
		go func(idx []int) {
			defer func() { <-sem; wg.Done() }()
			for _, i := range idx {
				out[i] = r.Run(ctx, set, active[i])
			}
		}(groups[key])
	}
	wg.Wait()
	return out
}

// Known reports a selection the caller already holds for a policy, such as
// the service's last scan of it, so that a run need not scan it again. It
// must answer only for the very policy it scanned (the same documents).
type Known func(p *config.Policy) (ref string, ok bool)

// Run runs one automation, scanning every policy it uses.
func (r *Runner) Run(ctx context.Context, set *config.Set, a *config.Automation) RunResult {
	return r.RunKnown(ctx, set, a, nil)
}

// RunKnown runs one automation, taking the selections known answers for
// instead of scanning those policies; the others are scanned. It is the
// loop, step by step (see the package documentation): resolve the target,
// sync, plan and write (the edit that Update calls, again after a lost
// race), commit and push, open the pull request, record.
//
// The run's events go to the configuration's Alerts afterwards (Notifier).
func (r *Runner) RunKnown(ctx context.Context, set *config.Set, a *config.Automation, known Known) RunResult {
	res := r.runKnown(ctx, set, a, known)
	r.notifyRun(ctx, set, a, res)
	return res
}

func (r *Runner) runKnown(ctx context.Context, set *config.Set, a *config.Automation, known Known) RunResult {
	res := RunResult{Namespace: a.Namespace, Name: a.Name}
	log := r.logger().With("automation", res.Key())
	if a.ArgoCD != nil && a.ArgoCD.Method == config.ArgoMethodAPI {
		return r.runArgoAPI(ctx, set, a, known, res, log)
	}
	t, err := r.resolve(a)
	if err != nil {
		return res.fail(err)
	}
	expectsRest := r.expectsRest(res.Key(), set, a, known)
	if expectsRest {
		m, moved, err := r.restAtRemote(ctx, t, res.Key())
		if err != nil {
			return res.fail(err)
		}
		if m != nil {
			// As the edit atRest answers after the sync, publishing's
			// errors included.
			if _, err := r.publishing(a, t, res.Key()); err != nil {
				return res.fail(err)
			}
			res.Kept, res.Branch, res.NothingToDo, res.Attempts = slices.Clone(m.kept), m.branch, true, 1
			r.recordRun(res, state.RunRecord{}, true, log)
			return res
		}
		expectsRest = !moved
	}
	syncStart := r.now()
	co, err := r.sync(ctx, t, log, expectsRest)
	if err != nil {
		return res.fail(err)
	}
	defer co.Close()
	synced := r.now().Sub(syncStart)
	pub, err := r.publishing(a, t, res.Key())
	if err != nil {
		return res.fail(err)
	}
	p := r.planner(set, a, known, log)
	p.head, p.tree, p.synced = co.Head, co.TreeOf, synced
	if a.ArgoCD != nil && a.ArgoCD.BranchTemplate != "" {
		changes, err := r.argoBranchPush(ctx, co.Dir(), set, a, known, t, &pub, p, res.Key())
		if err != nil {
			return res.fail(err)
		}
		if !changes {
			res.NothingToDo, res.Branch, res.DryRun = true, t.Branch, r.DryRun
			return res
		}
	}
	if r.DryRun {
		return r.preview(ctx, co, p, pub, res)
	}
	if groupBy(a) != "" && a.ArgoCD == nil {
		res, err = r.runGrouped(ctx, co, a, t, pub, p, res, log)
		if err != nil {
			return res.fail(err)
		}
		r.recordRun(res, state.RunRecord{}, true, log)
		return res
	}
	res, err = r.commitAndPush(ctx, co, p, pub, res, log)
	if err != nil {
		return res.fail(err)
	}
	rec := r.pushRecord(a, t, res)
	if pub.wantsPullRequest(res) {
		// The lease of the push branch is kept whatever the pull
		// request's fate.
		r.recordRun(res, rec, false, log)
		rec = state.RunRecord{}
		if res.PullRequest, err = r.pullRequest(ctx, a, t, pub.push.Branch, res, log); err != nil {
			return res.fail(err)
		}
	}
	r.recordRun(res, rec, true, log)
	return res
}
