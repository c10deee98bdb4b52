package automation

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/policy"
	"github.com/hoist-dev/hoist/registry"
	"github.com/hoist-dev/hoist/writeback"
)

// UpdateOptions are the inputs of one update of a tree.
type UpdateOptions struct {
	// Root is the directory whose manifests are updated.
	Root string
	// Files are files to scan besides the .yaml/.yml files of Root.
	Files []string
	// Include are globs of more files of Root read for markers in
	// comments (writeback.ScanOptions.Include).
	Include []string
	// Set holds the policies markers name; nil means none (only Pins).
	Set *config.Set
	// Pins are selections given by the caller (NAMESPACE:NAME → reference),
	// the --set flag: they win over a scan, and need no registry.
	Pins map[string]string
	// Scanner scans registries for the policies targets name; nil means
	// Pins only (targets of other policies are refused as unknown).
	Scanner *Scanner
	// DryRun plans and previews without writing.
	DryRun bool
	// Index, when set, is used instead of walking the tree again (the
	// service keeps one between runs).
	Index *writeback.Index
	// Policies, when not nil, limits markers to these policy keys (an
	// automation's policySelector); other markers are left alone.
	Policies map[string]bool
	// LastWritten, when set, answers the last value hoist wrote to a
	// target, for policies with respectManualChanges (the Runner reads it
	// from the state store).
	LastWritten LastWritten
	// Only, when set, limits the changes written to those it accepts (one
	// group of a grouped pull request); the others are left out silently.
	Only func(writeback.Change) bool
}

// UpdateResult says what an update did.
type UpdateResult struct {
	// Selections are the policies scanned for this tree (markers' and
	// annotated workloads'), in key order.
	Selections []Selection
	// Changes are the edits written (or, with DryRun, planned).
	Changes []writeback.Change
	// Files are the per-file outcomes, old and new bytes included.
	Files []writeback.FileResult
	// Errors are the targets and files refused, and selections that failed.
	Errors []*writeback.FileError
	// Warnings are files skipped on purpose that are worth knowing of,
	// such as dangling symbolic links (writeback.ErrDanglingSymlink).
	Warnings []*writeback.FileError
	// Kept are changes not made: held, kept after a manual change, or
	// going back to an older version than Git has (see docs/selection.md).
	Kept []Kept
}

// Failed reports whether any policy or target failed (exit status 1).
func (r UpdateResult) Failed() bool { return len(r.Errors) > 0 }

// Update scans the tree for targets, selects a tag for each policy they
// name (pins first, then the registry), plans the edits and writes them.
// The error is for the update as a whole; failures of single policies and
// files are in UpdateResult.Errors and do not stop the others.
func Update(ctx context.Context, o UpdateOptions) (UpdateResult, error) {
	var (
		scan writeback.ScanResult
		err  error
	)
	if o.Index != nil {
		scan, err = o.Index.Scan(ctx)
	} else {
		scan, err = writeback.ScanDir(ctx, o.Root, writeback.ScanOptions{Files: o.Files, Include: o.Include})
	}
	if err != nil {
		return UpdateResult{}, fmt.Errorf("scanning %s for targets: %w", o.Root, err)
	}
	res := UpdateResult{
		Errors:   append([]*writeback.FileError(nil), scan.Errors...),
		Warnings: append([]*writeback.FileError(nil), scan.Warnings...),
	}
	targets := scan.Targets
	if o.Policies != nil {
		targets = slices.DeleteFunc(slices.Clone(targets), func(t writeback.Target) bool {
			return t.Inline == nil && !o.Policies[t.Policy]
		})
	}
	sel, rules, sels, errs := selectFor(ctx, o, targets)
	res.Selections = sels
	res.Errors = append(res.Errors, errs...)

	flags := flagsOf(o.Set, slices.Collect(maps.Keys(rules)))
	free, held := splitHeld(targets, flags)
	cs := writeback.Plan(free, sel)
	res.Errors = append(res.Errors, cs.Errors...)
	res.Kept = keptHeld(held, sel)
	var manual, downgrades []Kept
	cs.Changes, manual = withoutManual(cs.Changes, flags, o.LastWritten)
	cs.Changes, downgrades = withoutDowngrades(cs.Changes, rules, flags.downgrade)
	res.Kept = append(append(res.Kept, manual...), downgrades...)
	if o.Only != nil {
		cs.Changes = slices.DeleteFunc(cs.Changes, func(c writeback.Change) bool { return !o.Only(c) })
		res.Kept = slices.DeleteFunc(res.Kept, func(k Kept) bool { return !o.Only(k.Change) })
	}
	slices.SortStableFunc(res.Kept, func(a, b Kept) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	})
	if len(cs.Changes) == 0 {
		return res, nil
	}
	var files []writeback.FileResult
	if o.DryRun {
		files, err = writeback.Preview(ctx, o.Root, cs)
	} else {
		files, err = writeback.Write(ctx, o.Root, cs)
	}
	if err != nil {
		return res, fmt.Errorf("writing %s: %w", o.Root, err)
	}
	res.Files = files
	for _, f := range files {
		if f.Err != nil {
			var fe *writeback.FileError
			if !errors.As(f.Err, &fe) {
				fe = &writeback.FileError{File: f.Path, Err: f.Err}
			}
			res.Errors = append(res.Errors, fe)
			continue
		}
		res.Changes = append(res.Changes, f.Changes...)
	}
	return res, nil
}

// selectFor finds a selection for every policy key the targets name.
func selectFor(ctx context.Context, o UpdateOptions, targets []writeback.Target) (writeback.Selections, map[string]*policy.Policy, []Selection, []*writeback.FileError) {
	sel := writeback.Selections{}
	rules := map[string]*policy.Policy{}
	var (
		out  []Selection
		errs []*writeback.FileError
	)
	for key, ref := range o.Pins {
		sel[key] = writeback.Selection{Ref: ref}
	}
	// The targets' policies, each once, with the first target naming it.
	first := map[string]writeback.Target{}
	var keys []string
	for _, t := range targets {
		if _, ok := first[t.Policy]; !ok {
			first[t.Policy] = t
			keys = append(keys, t.Policy)
		}
	}
	sort.Strings(keys)
	var markerPolicies []*config.Policy
	for _, key := range keys {
		t := first[key]
		if t.Inline == nil {
			if o.Set == nil {
				continue
			}
			ns, n, _ := strings.Cut(key, ":")
			if p := o.Set.Policy(ns, n); p != nil {
				rules[key] = p.Compiled
				suspended := p.Spec.Suspend || (p.Repository != nil && p.Repository.Spec.Suspend)
				if _, pinned := sel[key]; !pinned && !suspended {
					markerPolicies = append(markerPolicies, p)
				} else if !pinned {
					sel[key] = writeback.Selection{} // suspended: leave its targets alone
				}
			}
			continue
		}
		spec, err := t.Inline.Spec()
		if err != nil {
			errs = append(errs, &writeback.FileError{File: t.File, Line: t.Line, Field: t.Field, Policy: key, Err: err})
			sel[key] = writeback.Selection{}
			continue
		}
		p, err := policy.Compile(spec)
		if err != nil {
			errs = append(errs, &writeback.FileError{File: t.File, Line: t.Line, Field: t.Field, Policy: key, Err: err})
			sel[key] = writeback.Selection{}
			continue
		}
		rules[key] = p
	}
	if o.Scanner == nil {
		// Without a registry, known policies that were not pinned keep
		// their values; only markers naming no policy at all are refused.
		for _, key := range keys {
			if _, ok := sel[key]; !ok && (rules[key] != nil || first[key].Inline != nil) {
				sel[key] = writeback.Selection{}
			}
		}
		return sel, rules, out, errs
	}
	// Markers: scan the policies of the documents.
	if len(markerPolicies) > 0 {
		sub := &config.Set{Policies: markerPolicies}
		for _, s := range o.Scanner.Scan(ctx, sub) {
			out = append(out, s)
			key := s.Key()
			if s.Err != nil {
				t := first[key]
				errs = append(errs, &writeback.FileError{File: t.File, Line: t.Line, Policy: key, Err: s.Err})
				sel[key] = writeback.Selection{}
				continue
			}
			sel[key] = writeback.Selection{Ref: s.Ref}
		}
	}
	// Annotated workloads: scan each container image's repository.
	for _, key := range keys {
		t := first[key]
		if t.Inline == nil || rules[key] == nil {
			continue
		}
		if _, done := sel[key]; done {
			continue
		}
		s := o.Scanner.scanInline(ctx, key, t.Inline, rules[key])
		out = append(out, s)
		if s.Err != nil {
			errs = append(errs, &writeback.FileError{File: t.File, Line: t.Line, Field: t.Field, Policy: key, Err: s.Err})
			sel[key] = writeback.Selection{}
			continue
		}
		sel[key] = writeback.Selection{Ref: s.Ref}
	}
	return sel, rules, out, errs
}

// scanInline selects for the inline policy of an annotated container.
func (s *Scanner) scanInline(ctx context.Context, key string, in *writeback.Inline, p *policy.Policy) Selection {
	sel := Selection{Namespace: "inline", Name: key, Image: in.Repository}
	repo := registry.Repo{Image: in.Repository}
	tags, err := s.Registry.ListTags(ctx, repo)
	if err != nil {
		sel.Err = err
		return sel
	}
	sel.FetchedAt, sel.Stale, sel.Warning = tags.FetchedAt, tags.Stale, StaleWarning(tags)
	res, err := SelectTag(ctx, s.Registry, repo, p, tags.Tags, s.now())
	sel.Candidates, sel.Dropped = res.Candidates, res.Dropped
	if err != nil {
		sel.Err = fmt.Errorf("%s (%s on %s): %w", in.Annotation, in.Shorthand, in.Repository, err)
		return sel
	}
	sel.Tag, sel.Digest = res.Tag, res.Digest
	sel.Ref = in.Repository + ":" + res.Tag
	if res.Digest != "" {
		sel.Ref += "@" + res.Digest
	}
	return sel
}

// withoutDowngrades drops changes that would write an older version than
// the file has, for semver policies: a policy never selects something older
// than what Git already has unless it sets allowDowngrade (see
// docs/guarantees.md).
func withoutDowngrades(changes []writeback.Change, rules map[string]*policy.Policy, allow map[string]bool) (kept []writeback.Change, skipped []Kept) {
	for _, c := range changes {
		p := rules[c.Policy]
		if p != nil && p.Rule() == policy.RuleSemver && !allow[c.Policy] {
			if older(tagOf(c.New), tagOf(c.Old)) {
				skipped = append(skipped, Kept{Change: c, Reason: KeptDowngrade})
				continue
			}
		}
		kept = append(kept, c)
	}
	return kept, skipped
}

// tagOf returns the tag of a reference or the value itself when it is a
// bare tag.
func tagOf(v string) string {
	if !strings.ContainsAny(v, "/:@") {
		return v
	}
	v, _, _ = strings.Cut(v, "@")
	if t, err := name.NewTag(v, name.WeakValidation); err == nil && strings.Contains(v, ":") {
		return t.TagStr()
	}
	return ""
}

// older reports whether version a ranks below version b; false when either
// is not a version.
func older(a, b string) bool {
	c, ok := policy.CompareVersions(a, b)
	return ok && c < 0
}
