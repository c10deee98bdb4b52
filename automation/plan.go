package automation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/writeback"
)

// planner plans and writes an automation's edits in a checkout: its edit
// is what git's Update calls, once, and again on the new head after each
// race lost to another writer. It keeps what the attempts share (the
// selections of the first, so that a re-plan writes the same ones) and
// what the last one found.
type planner struct {
	r     *Runner
	set   *config.Set
	a     *config.Automation
	known Known
	log   *slog.Logger
	// updatePath is the automation's update.path, as written.
	updatePath string
	// head is the commit the checkout's worktree holds when edit is
	// called (git.Checkout.Head); nil when unknown.
	head func() string
	// tree is the hash of a directory of that commit, when nothing under
	// it is a link (git.Checkout.TreeOf); nil or "" when unknown.
	tree func(dir string) string

	// synced is how long the run's sync took, and edited how long its
	// edits (the commit pushed log line says).
	synced, edited time.Duration

	attempt int
	// pins are the selections of the first attempt, by policy key; nil
	// before it.
	pins map[string]string

	// What the last attempt found: the update path in the clone, links
	// resolved; the files written; the targets that failed and the files
	// skipped with a warning.
	rel      string
	files    []writeback.FileResult
	errors   []*writeback.FileError
	warnings []*writeback.FileError
	// docWarnings are the warnings of the repository's own documents
	// (paths from the update path), such as a Provider that is not read.
	docWarnings []*writeback.FileError
	// kept are the changes the last attempt kept back, with paths from
	// the repository's root.
	kept []Kept
	// only, when set, limits the changes to one group of a grouped pull
	// request (paths from the repository's root).
	only func(writeback.Change) bool
	// preview plans without writing (the first pass of a grouped run).
	preview bool

	// What the first attempt read besides the files, for the memo of a
	// run at rest (restMemo): the policies selected, the state store's
	// answers, and whether it scanned a registry.
	selected []*config.Policy
	written  []writtenLookup
	scanned  bool
}

func (r *Runner) planner(set *config.Set, a *config.Automation, known Known, log *slog.Logger) *planner {
	p := &planner{r: r, set: set, a: a, known: known, log: log, updatePath: config.DefaultPath}
	if a.Spec.Update != nil && a.Spec.Update.Path != "" {
		p.updatePath = a.Spec.Update.Path
	}
	return p
}

// edit plans and writes the automation's changes in the clone at dir.
func (p *planner) edit(ctx context.Context, dir string) ([]writeback.Change, error) {
	start := p.r.now()
	defer func() { p.edited += p.r.now().Sub(start) }()
	p.attempt++
	// The update path, resolved inside the clone: a link on the way that
	// leads out of it is refused (see docs/guarantees.md).
	root, rel, err := writeback.ResolveIn(dir, p.updatePath)
	if err != nil {
		return nil, fmt.Errorf("update.path %s: %w", p.updatePath, err)
	}
	p.rel = rel
	effective, selected, err := p.policies(dir, rel)
	if err != nil {
		return nil, err
	}
	if p.attempt == 1 {
		p.selected = selected
	}
	keys := map[string]bool{}
	for _, pol := range selected {
		keys[pol.Namespace+":"+pol.Name] = true
	}
	var include []string
	if p.a.Spec.Update != nil {
		include = p.a.Spec.Update.Include
	}
	uo := UpdateOptions{Root: root, Include: include, Set: effective, Scanner: p.r.Scanner, Pins: p.pinsFor(selected), Policies: keys, DryRun: p.r.DryRun || p.preview}
	if p.r.State != nil {
		uo.LastWritten = func(c writeback.Change) (string, bool) {
			c.File = path.Join(rel, c.File)
			key := writtenKey(p.a, c)
			w, ok, err := p.r.State.Written(key)
			if err != nil {
				w.Value, ok = "", false
			}
			if p.attempt == 1 {
				p.written = append(p.written, writtenLookup{key: key, value: w.Value, ok: ok})
			}
			return w.Value, ok
		}
	}
	if p.only != nil {
		uo.Only = func(c writeback.Change) bool {
			c.File = path.Join(rel, c.File)
			return p.only(c)
		}
	}
	if p.a.ArgoCD != nil {
		if out, handled, err := p.r.argoEdit(ctx, dir, p.a.ArgoCD, selected, uo.Pins, !p.r.DryRun); handled {
			p.noteArgo(out, uo.Pins)
			return out.changes, err
		}
	}
	if p.attempt == 1 {
		// A re-plan after a lost race reads every file afresh: the
		// fetch may have rewritten files within one mtime tick.
		uo.Index = p.r.index(root, include)
	}
	up, err := Update(ctx, uo)
	if err != nil {
		return nil, err
	}
	p.note(up, uo.Pins)
	// The changes, with paths from the repository's root: what the
	// commit stages and its message, the pull request and the result
	// show.
	var out []writeback.Change
	for _, c := range up.Changes {
		c.File = path.Join(rel, c.File)
		out = append(out, c)
	}
	if p.a.ArgoCD != nil {
		argoMarkerChanges(p.a.ArgoCD, out)
	}
	if p.a.ReadsArgoApplications() {
		return p.editRepoApplications(ctx, dir, effective, out)
	}
	return out, nil
}

// pathTree is the hash of the update path's tree at the checkout's head,
// when the path is a directory of that commit with no link on the way or
// under it; "" when unknown. An edit reads nothing else of the clone (the
// update path is opened as a root, and the repository's own documents come
// from under it), so a run at rest is remembered by it too (restMemo):
// another writer's commit elsewhere in the repository leaves it.
func (p *planner) pathTree() string {
	if p.tree == nil || p.r.restByCommit {
		return ""
	}
	dir := path.Clean(strings.TrimPrefix(filepath.ToSlash(p.updatePath), "/"))
	if dir == ".." || strings.HasPrefix(dir, "../") {
		return ""
	}
	return p.tree(dir)
}

// policies are the automation's policies: the configuration's and the
// repository's own documents under the update path (rel in the clone dir),
// read through the clone opened as a root.
func (p *planner) policies(dir, rel string) (*config.Set, []*config.Policy, error) {
	// With ArgoApplicationsAnnotation, the repository's Applications are
	// read; those of the argocd method (the controller's) are accepted,
	// and left alone (editRepoApplications).
	argo := p.a.ReadsArgoApplications()
	// The documents under rel are the same while its tree is (another
	// automation's commit elsewhere in the repository leaves it), else
	// while the commit is.
	var version string
	if p.tree != nil {
		if t := p.tree(rel); t != "" {
			version = "tree " + t
		}
	}
	if version == "" && p.head != nil {
		if h := p.head(); h != "" {
			version = "commit " + h
		}
	}
	effective, err := p.r.repoDocuments(p.set, dir, rel, version, config.LoadOptions{ArgoCD: argo, ArgoCDAPI: argo, Repository: true})
	if err != nil {
		return nil, nil, fmt.Errorf("loading the repository's documents under %s: %w", p.updatePath, err)
	}
	p.docWarnings = nil
	if effective != p.set { // the set of the configuration has its own warnings
		for _, w := range effective.Warnings {
			file := w.File
			if rel != "." {
				file = strings.TrimPrefix(file, rel+"/")
			}
			p.docWarnings = append(p.docWarnings, &writeback.FileError{File: file, Line: w.Line, Field: w.Field, Err: errors.New(w.Message)})
		}
	}
	auto := effective.Automation(p.a.Namespace, p.a.Name)
	if auto == nil {
		auto = p.a
	}
	selected, err := effective.PoliciesFor(auto)
	if err != nil {
		return nil, nil, err
	}
	return effective, selected, nil
}

// pinsFor returns the selections an attempt writes without scanning: the
// first attempt's after a lost race, else those the caller knows.
func (p *planner) pinsFor(selected []*config.Policy) map[string]string {
	if p.pins != nil || p.known == nil {
		return p.pins
	}
	pins := map[string]string{}
	for _, pol := range selected {
		if ref, ok := p.known(pol); ok {
			pins[pol.Namespace+":"+pol.Name] = ref
		}
	}
	return pins
}

// note keeps what an attempt found, logs the first one's warnings, and
// pins the first one's selections for the attempts after it.
func (p *planner) note(up UpdateResult, pinned map[string]string) {
	if p.attempt == 1 {
		for _, s := range up.Selections {
			if s.Warning != "" {
				p.log.Warn("registry failed transiently; using the cached tag list", "policy", s.Key(), "warning", s.Warning)
			}
		}
	}
	if len(up.Selections) > 0 {
		p.scanned = true
	}
	if p.pins == nil {
		p.pins = map[string]string{}
		maps.Copy(p.pins, pinned)
		for _, s := range up.Selections {
			if s.Err == nil && s.Namespace != "inline" {
				p.pins[s.Key()] = s.Ref
			}
		}
	}
	p.errors, p.files = up.Errors, up.Files
	p.kept = p.kept[:0]
	for _, k := range up.Kept {
		k.File = path.Join(p.rel, k.File)
		p.kept = append(p.kept, k)
	}
	if p.attempt == 1 {
		for _, w := range p.docWarnings {
			p.log.Warn("document not read", "file", path.Join(p.rel, w.File), "line", w.Line, "reason", w.Err.Error())
		}
		for _, w := range up.Warnings {
			p.log.Warn("skipped", "file", path.Join(p.rel, w.File), "reason", w.Err.Error())
		}
	}
	p.warnings = append(slices.Clip(p.docWarnings), up.Warnings...)
}

// writtenKey is the state store's key of the value hoist wrote to the
// target of c (File from the repository's root): the automation's
// repository and branch, the file, the object and the field.
func writtenKey(a *config.Automation, c writeback.Change) string {
	return GitKey(a) + "\x00" + c.File + "\x00" + c.Object.String() + "\x00" + c.Field
}
