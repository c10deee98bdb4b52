package automation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/writeback"
	"github.com/hoist-dev/hoist/writeback/git"
	"github.com/hoist-dev/hoist/writeback/pullrequest"
)

// Runner runs ImageUpdateAutomations: sync the Git repository, load the
// policies the automation selects (from the configuration and from the
// repository itself), scan, plan, write, commit, push, and open or update a
// pull request. The command line (hoist run --once) and the service drive
// automations through it.
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
	State *StateStore
	// Logger receives one line per decision worth knowing; nil discards.
	Logger *slog.Logger
	// Metrics, when set, counts commits, pushes and pull requests.
	Metrics *Metrics
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DryRun syncs, scans and plans, and reports the changes and their
	// diff, but writes, commits and pushes nothing.
	DryRun bool

	// indexes remember, per worktree update path, which files hold
	// targets, so that a later run reads only files that changed.
	indexes sync.Map // string -> *writeback.Index
}

// index returns the target index of root, made on first use.
func (r *Runner) index(root string) *writeback.Index {
	if x, ok := r.indexes.Load(root); ok {
		return x.(*writeback.Index)
	}
	x, _ := r.indexes.LoadOrStore(root, writeback.NewIndex(root, writeback.ScanOptions{}))
	return x.(*writeback.Index)
}

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
	// Attempts counts edits (more than one after lost push races).
	Attempts int `json:"attempts,omitempty"`
	// Changes are the values rewritten.
	Changes []writeback.Change `json:"changes"`
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
		groups = map[string][]int{} // git URL#branch → indexes into active
		order  []string
	)
	for _, a := range set.Automations {
		if a.Spec.Suspend {
			r.logger().Info("automation suspended", "automation", a.Namespace+"/"+a.Name)
			continue
		}
		key := gitKey(a)
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

// gitTarget is where an automation writes.
type gitTarget struct {
	url, branch string
	secret      string        // secretRef name, "" for none
	timeout     time.Duration // of each network operation; 0: git's default
}

func resolveGit(a *config.Automation) (gitTarget, error) {
	var t gitTarget
	if g := a.GitRepository; g != nil {
		t.url = g.Spec.URL
		if g.Spec.SecretRef != nil {
			t.secret = g.Spec.SecretRef.Name
		}
		if ref := g.Spec.Reference; ref != nil {
			t.branch = ref.Branch
			if t.branch == "" {
				// Flux's full reference name: refs/heads/BRANCH.
				t.branch, _ = strings.CutPrefix(ref.Name, "refs/heads/")
				if t.branch == ref.Name {
					t.branch = ""
				}
			}
		}
		if g.Spec.Timeout != nil {
			t.timeout = g.Spec.Timeout.Duration
		}
	} else if a.Spec.SourceRef != nil {
		return t, fmt.Errorf("sourceRef %s %q is not in the configuration", a.Spec.SourceRef.Kind, a.Spec.SourceRef.Name)
	}
	if gs := a.Spec.Git; gs != nil {
		if gs.URL != "" {
			t.url = gs.URL
		}
		if gs.SecretRef != nil {
			t.secret = gs.SecretRef.Name
		}
		if gs.Checkout != nil && gs.Checkout.Reference.Branch != "" {
			t.branch = gs.Checkout.Reference.Branch
		} else if gs.Checkout != nil {
			if b, ok := strings.CutPrefix(gs.Checkout.Reference.Name, "refs/heads/"); ok && b != "" {
				t.branch = b
			}
		}
	}
	if t.url == "" {
		return t, errors.New("no Git URL: set spec.sourceRef to a GitRepository or spec.git.url")
	}
	if t.branch == "" {
		return t, errors.New("no branch to check out (a tag, semver or commit cannot be pushed to): set spec.git.checkout.ref.branch or the GitRepository's spec.ref.branch")
	}
	return t, nil
}

// gitKey names the Git repository and branch an automation writes to, so
// that work on one is serialised; an automation whose repository cannot be
// resolved is keyed by its own name (it fails alone). The key is logged, so
// it holds the URL without credentials (git.RedactURL): two automations
// that reach one repository with different tokens share a key.
func gitKey(a *config.Automation) string {
	gt, err := resolveGit(a)
	if err != nil {
		return a.Namespace + "/" + a.Name
	}
	return git.RedactURL(gt.url) + "#" + gt.branch
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
// instead of scanning those policies; the others are scanned.
func (r *Runner) RunKnown(ctx context.Context, set *config.Set, a *config.Automation, known Known) RunResult {
	res := RunResult{Namespace: a.Namespace, Name: a.Name}
	log := r.logger().With("automation", res.Key())
	fail := func(err error) RunResult {
		res.Err = fmt.Errorf("automation %s: %w", res.Key(), err)
		return res
	}
	gt, err := resolveGit(a)
	if err != nil {
		return fail(err)
	}
	auth := r.GitAuth
	if gt.secret != "" {
		if r.SecretsDir == "" {
			return fail(fmt.Errorf("secretRef %q needs --secrets-dir", gt.secret))
		}
		if auth, err = git.AuthFromSecretDir(filepath.Join(r.SecretsDir, gt.secret)); err != nil {
			return fail(err)
		}
	}
	co, err := git.Sync(ctx, git.SyncOptions{
		URL:      gt.url,
		Branch:   gt.branch,
		CacheDir: filepath.Join(r.StateDir, "git"),
		Auth:     auth,
		Timeout:  gt.timeout,
		Logger:   log,
	})
	if err != nil {
		return fail(err)
	}
	defer co.Close()

	commit, err := r.commitOptions(a)
	if err != nil {
		return fail(err)
	}
	push := git.PushOptions{}
	if a.Spec.Git != nil && a.Spec.Git.Push != nil {
		push.Branch = a.Spec.Git.Push.Branch
		push.Refspec = a.Spec.Git.Push.Refspec
		push.Options = a.Spec.Git.Push.Options
	}
	if push.Branch != "" && r.State != nil {
		if rec, ok, err := r.State.LastPush(res.Key()); err == nil && ok && rec.Branch == push.Branch {
			push.Lease = rec.Commit
		}
	}

	updatePath := config.DefaultPath
	if a.Spec.Update != nil && a.Spec.Update.Path != "" {
		updatePath = a.Spec.Update.Path
	}
	var (
		pins      map[string]string
		lastErrs  []*writeback.FileError
		lastWarns []*writeback.FileError
		resolved  string // the update path in the clone, links resolved
		lastFiles []writeback.FileResult
	)
	if a.ArgoCD != nil && a.ArgoCD.BranchTemplate != "" {
		// Image Updater's branch template names the changes: plan them
		// first, and make those very selections.
		branch, p, err := r.argoBranch(ctx, co.Dir(), set, a, known)
		if err != nil {
			return fail(err)
		}
		if branch == "" {
			res.NothingToDo, res.Branch, res.DryRun = true, gt.branch, r.DryRun
			return res
		}
		push.Branch, pins = branch, p
		if r.State != nil {
			if rec, ok, err := r.State.LastPush(res.Key()); err == nil && ok && rec.Branch == push.Branch {
				push.Lease = rec.Commit
			}
		}
	}
	attempt := 0
	edit := func(ctx context.Context, dir string) ([]git.Change, error) {
		attempt++
		// The update path, resolved inside the clone: a link on the way
		// that leads out of it is refused (see docs/guarantees.md).
		root, rel, err := writeback.ResolveIn(dir, updatePath)
		if err != nil {
			return nil, fmt.Errorf("update.path %s: %w", updatePath, err)
		}
		resolved = rel
		// The automation's policies: the configuration's and the
		// repository's own documents under the update path, read
		// through the clone opened as a root.
		effective, err := loadRepoDocuments(set, dir, rel)
		if err != nil {
			return nil, fmt.Errorf("loading the repository's documents under %s: %w", updatePath, err)
		}
		auto := effective.Automation(a.Namespace, a.Name)
		if auto == nil {
			auto = a
		}
		selected, err := effective.PoliciesFor(auto)
		if err != nil {
			return nil, err
		}
		keys := map[string]bool{}
		for _, p := range selected {
			keys[p.Namespace+":"+p.Name] = true
		}
		uo := UpdateOptions{Root: root, Set: effective, Scanner: r.Scanner, Pins: pins, Policies: keys, DryRun: r.DryRun}
		if pins == nil && known != nil {
			uo.Pins = map[string]string{}
			for _, p := range selected {
				if ref, ok := known(p); ok {
					uo.Pins[p.Namespace+":"+p.Name] = ref
				}
			}
		}
		if a.ArgoCD != nil {
			out, handled, err := r.argoEdit(ctx, dir, a.ArgoCD, selected, uo.Pins, !r.DryRun)
			if handled {
				if pins == nil {
					pins = map[string]string{}
					maps.Copy(pins, uo.Pins)
					for _, s := range out.selections {
						if s.Err == nil {
							pins[s.Key()] = s.Ref
						}
					}
				}
				lastErrs, lastFiles, resolved = out.errs, out.files, ""
				return out.changes, err
			}
		}
		if attempt == 1 {
			// A re-plan after a lost race reads every file afresh: the
			// fetch may have rewritten files within one mtime tick.
			uo.Index = r.index(root)
		}
		up, err := Update(ctx, uo)
		if err != nil {
			return nil, err
		}
		for _, s := range up.Selections {
			if s.Warning != "" && attempt == 1 {
				log.Warn("registry failed transiently; using the cached tag list", "policy", s.Key(), "warning", s.Warning)
			}
		}
		// A re-plan after a lost race writes the same selections.
		if pins == nil {
			pins = map[string]string{}
			maps.Copy(pins, uo.Pins)
			for _, s := range up.Selections {
				if s.Err == nil && s.Namespace != "inline" {
					pins[s.Key()] = s.Ref
				}
			}
		}
		lastErrs, lastFiles = up.Errors, up.Files
		if attempt == 1 {
			for _, w := range up.Warnings {
				log.Warn("skipped", "file", path.Join(rel, w.File), "reason", w.Err.Error())
			}
		}
		lastWarns = up.Warnings
		out := make([]git.Change, 0, len(up.Changes))
		for _, c := range up.Changes {
			file := path.Join(rel, c.File)
			out = append(out, git.Change{
				File: file, Line: c.Line, Field: c.Field,
				Object:   git.ObjectIdentifier{APIVersion: c.Object.APIVersion, Kind: c.Object.Kind, Namespace: c.Object.Namespace, Name: c.Object.Name},
				OldValue: c.Old, NewValue: c.New, Setter: c.Setter,
			})
		}
		if a.ArgoCD != nil {
			argoMarkerChanges(a.ArgoCD, out)
		}
		return out, nil
	}
	if r.DryRun {
		changes, err := edit(ctx, co.Dir())
		res.DryRun, res.Errors, res.Warnings, res.Changes = true, lastErrs, lastWarns, fromGit(changes)
		res.NothingToDo = len(changes) == 0
		res.Branch = cmp.Or(push.Branch, gt.branch)
		if err != nil {
			return fail(err)
		}
		var diff strings.Builder
		for _, f := range lastFiles {
			if f.Err == nil && len(f.Changes) > 0 {
				diff.WriteString(writeback.Diff(path.Join(resolved, f.Path), f.Old, f.New))
			}
		}
		res.Diff = diff.String()
		return res
	}
	outcome, err := co.Update(ctx, edit, git.UpdateOptions{Commit: commit, Push: push})
	res.Errors, res.Warnings = lastErrs, lastWarns
	res.Commit, res.Branch, res.Pushed, res.NothingToDo, res.Attempts = outcome.Commit, outcome.Branch, outcome.Pushed, outcome.NothingToDo, outcome.Attempts
	res.Changes = fromGit(outcome.Changes)
	if outcome.Attempts > 1 {
		for i := 1; i < outcome.Attempts; i++ {
			r.Metrics.PushRetry(res.Key())
		}
	}
	if err != nil {
		r.Metrics.Push(res.Key(), err)
		return fail(err)
	}
	if res.Pushed {
		r.Metrics.Commit(res.Key())
		r.Metrics.Push(res.Key(), nil)
		log.Info("commit pushed", "commit", res.Commit, "branch", res.Branch, "changes", len(res.Changes), "attempts", res.Attempts)
		if r.State != nil {
			if err := r.State.PutLastPush(res.Key(), PushRecord{Commit: res.Commit, Branch: res.Branch, At: r.now()}); err != nil {
				log.Warn("recording the push in the state store", "error", err)
			}
		}
	}
	if pr := pullRequestSpec(a); pr != nil && push.Branch != "" && push.Branch != gt.branch && (res.Pushed || res.Commit != "") && len(res.Changes) > 0 {
		url, err := r.pullRequest(ctx, a, gt, auth, push.Branch, res.Changes)
		r.Metrics.PullRequest(res.Key(), err)
		if err != nil {
			return fail(err)
		}
		res.PullRequest = url
		log.Info("pull request ready", "url", url)
	}
	if r.State != nil && !res.Failed() {
		_ = r.State.PutLastSuccess(res.Key(), r.now())
	}
	if !res.Failed() {
		r.Metrics.LastSuccess(res.Key(), r.now())
	}
	return res
}

// loadRepoDocuments loads the documents under rel (a directory of the clone
// dir, as ResolveIn returns it) onto set, reading through dir opened as an
// os.Root, so that no link leads the reading out of the clone.
func loadRepoDocuments(set *config.Set, dir, rel string) (*config.Set, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }() // read only
	return config.LoadOntoFS(set, r.FS(), rel)
}

// fromGit converts the changes of a Git edit back to writeback's.
func fromGit(changes []git.Change) []writeback.Change {
	var out []writeback.Change
	for _, c := range changes {
		out = append(out, writeback.Change{File: c.File, Line: c.Line, Old: c.OldValue, New: c.NewValue, Policy: setterPolicy(c.Setter), Setter: c.Setter, Field: c.Field,
			Object: writeback.Object{APIVersion: c.Object.APIVersion, Kind: c.Object.Kind, Namespace: c.Object.Namespace, Name: c.Object.Name}})
	}
	return out
}

func setterPolicy(setter string) string {
	parts := strings.SplitN(setter, ":", 3)
	if len(parts) >= 2 && !strings.HasPrefix(setter, "inline:") {
		return parts[0] + ":" + parts[1]
	}
	return setter
}

func pullRequestSpec(a *config.Automation) *pullRequestOptions {
	if a.Spec.Git == nil || a.Spec.Git.Push == nil || a.Spec.Git.Push.PullRequest == nil {
		return nil
	}
	p := a.Spec.Git.Push.PullRequest
	return &pullRequestOptions{title: p.Title, body: p.Body, labels: p.Labels, provider: p.Provider, apiURL: p.APIURL}
}

type pullRequestOptions struct {
	title, body, provider, apiURL string
	labels                        []string
}

func (r *Runner) pullRequest(ctx context.Context, a *config.Automation, gt gitTarget, auth git.Auth, head string, changes []writeback.Change) (string, error) {
	o := pullRequestSpec(a)
	provider, err := pullrequest.New(pullrequest.Options{
		RepoURL:  gt.url,
		Kind:     pullrequest.Kind(o.provider),
		APIURL:   o.apiURL,
		Token:    pullrequest.TokenFromAuth(auth),
		CABundle: auth.CABundle,
	})
	if err != nil {
		return "", fmt.Errorf("pull request: %w", err)
	}
	title := o.title
	if title == "" {
		title = fmt.Sprintf("Update images (%s/%s)", a.Namespace, a.Name)
	}
	var body strings.Builder
	if o.body != "" {
		body.WriteString(o.body + "\n\n")
	}
	body.WriteString("hoist updated these image references:\n\n| file | line | old | new | policy |\n|---|---|---|---|---|\n")
	for _, c := range changes {
		fmt.Fprintf(&body, "| `%s` | %d | `%s` | `%s` | `%s` |\n", c.File, c.Line, c.Old, c.New, c.Setter)
	}
	pr, err := provider.EnsurePullRequest(ctx, pullrequest.Request{Head: head, Base: gt.branch, Title: title, Body: body.String(), Labels: o.labels})
	if err != nil {
		return "", fmt.Errorf("pull request from %s into %s: %w", head, gt.branch, err)
	}
	// The forge's answer is logged and printed: keep it free of
	// credentials whatever the forge sends.
	return git.RedactURL(pr.URL), nil
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
