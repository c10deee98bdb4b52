package writeback

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
)

// Selection is what a policy selected.
type Selection struct {
	// Ref is the full new reference, NAME:TAG, NAME:TAG@DIGEST or
	// NAME@DIGEST, with NAME as the policy's image is written (hoist writes
	// it as given, without adding docker.io or library/). An empty Ref
	// means the policy exists but selected nothing this run (its error is
	// reported elsewhere): its targets are left alone, without error.
	Ref string
}

// Selections maps policy keys (Target.PolicyKey: NAMESPACE:NAME for
// markers, inline keys for annotated workloads) to what each selected.
type Selections map[string]Selection

// Change is one planned edit: the scalar at Span in File becomes New. It is
// hoist's one change type: planned here, it is what package git commits and
// renders into the commit message (with Flux's template names OldValue,
// NewValue and Setter), what the pull request lists and what the JSON
// output prints.
type Change struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Old    string `json:"old"`
	New    string `json:"new"`
	// Policy is the policy key (NAMESPACE:NAME, or an inline key).
	Policy string `json:"policy"`
	// Setter is the marker as written ("apps:podinfo:tag"), the name Flux's
	// commit templates call .Setter; for an inline target, the policy key.
	Setter string `json:"setter"`
	Object Object `json:"object"`
	Field  string `json:"field"`
	// Span is the byte range replaced, quotes included.
	Span Span `json:"-"`
	// Text is what replaces Span: New, quoted as the file needs.
	Text string `json:"-"`
	// Sum is the hex SHA-256 the file had when scanned.
	Sum string `json:"-"`
	// Format is the Target.Format of the target.
	Format string `json:"-"`
	// Image, OldTag and NewTag are set for a change of an Argo CD
	// Application's write-back: the image's name without its registry and
	// its tags before (empty when the value is new) and after, Argo CD
	// Image Updater's .AppChanges; FullImage is the image with its
	// registry (Image Updater's full-image-name).
	Image     string `json:"-"`
	FullImage string `json:"-"`
	OldTag    string `json:"-"`
	NewTag    string `json:"-"`
}

// Changeset is the outcome of Plan: the changes to make, sorted by file and
// position, and the targets refused. A file with a refused target has no
// changes in the set: it is left untouched as a whole.
type Changeset struct {
	Changes []Change     `json:"changes"`
	Errors  []*FileError `json:"errors"`
}

// MarshalJSON writes the Changeset as `hoist update -o json` does (see
// docs/cli.md): {"changes": [...], "errors": [...]}, with empty lists rather
// than null.
func (c Changeset) MarshalJSON() ([]byte, error) {
	type plain Changeset
	p := plain(c)
	if p.Changes == nil {
		p.Changes = []Change{}
	}
	if p.Errors == nil {
		p.Errors = []*FileError{}
	}
	return json.Marshal(p)
}

// Files returns the files that have changes, sorted.
func (c Changeset) Files() []string {
	var files []string
	for _, ch := range c.Changes {
		if len(files) == 0 || files[len(files)-1] != ch.File {
			files = append(files, ch.File)
		}
	}
	return files
}

// Plan computes the changes that bring targets to the selected references.
// It is pure. A target whose policy is not in sel (ErrUnknownPolicy), whose
// new value is not a valid reference (ErrInvalidReference) or that shares
// its scalar with a target wanting another value (ErrConflict) is refused
// with an error naming its file and line, and its file gets no change.
// Targets already at their selected value produce no change (and their
// selection is not validated: only values that are written must be valid
// references), so planning again after writing yields an empty Changeset.
func Plan(targets []Target, sel Selections) Changeset {
	ts := slices.Clone(targets)
	slices.SortStableFunc(ts, func(a, b Target) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Span.Start, b.Span.Start))
	})
	refs := make(map[string]refResult)
	var cs Changeset
	for len(ts) > 0 {
		n := 1
		for n < len(ts) && ts[n].File == ts[0].File {
			n++
		}
		changes, errs := planFile(ts[:n], sel, refs)
		if len(errs) > 0 {
			cs.Errors = append(cs.Errors, errs...)
		} else {
			cs.Changes = append(cs.Changes, changes...)
		}
		ts = ts[n:]
	}
	return cs
}

type refResult struct {
	parts refParts
	err   error
}

// planFile plans the targets of one file, sorted by position.
func planFile(ts []Target, sel Selections, refs map[string]refResult) ([]Change, []*FileError) {
	var (
		changes []Change
		errs    []*FileError
		want    = make(map[Span]string) // the value each scalar is to hold
	)
	fail := func(t Target, err error) {
		errs = append(errs, &FileError{File: t.File, Line: t.Line, Field: t.Field, Policy: t.Policy, Err: err})
	}
	for _, t := range ts {
		if t.Sum != ts[0].Sum {
			fail(t, fmt.Errorf("%w: targets of two scans of the file", ErrStale))
			continue
		}
		s, ok := sel[t.Policy]
		if !ok {
			fail(t, ErrUnknownPolicy)
			continue
		}
		if s.Ref == "" {
			continue
		}
		// The value is taken from the reference as written; the reference
		// is validated (the costly part) only when a value is to change.
		value, err := splitRef(s.Ref).part(t.Part, s.Ref)
		if err != nil {
			fail(t, err)
			continue
		}
		if prev, seen := want[t.Span]; seen {
			if prev != value {
				fail(t, fmt.Errorf("%w: %q and %q", ErrConflict, prev, value))
			}
			continue
		}
		want[t.Span] = value
		if value == t.Value {
			continue
		}
		r, ok := refs[s.Ref]
		if !ok {
			r.parts, r.err = parseRef(s.Ref)
			refs[s.Ref] = r
		}
		if r.err != nil {
			fail(t, r.err)
			continue
		}
		f := formatNamed(t.Format)
		if f == nil {
			fail(t, fmt.Errorf("%w: unknown format %q", ErrUnsupported, t.Format))
			continue
		}
		text, err := f.encode(t, value)
		if err != nil {
			fail(t, err)
			continue
		}
		setter := t.Marker
		if setter == "" {
			setter = t.Policy
		}
		changes = append(changes, Change{
			File: t.File, Line: t.Line, Column: t.Column,
			Old: t.Value, New: value,
			Policy: t.Policy, Setter: setter,
			Object: t.Object, Field: t.Field,
			Span: t.Span, Text: text, Sum: t.Sum, Format: t.Format,
		})
	}
	for i := 1; i < len(changes); i++ {
		if changes[i].Span.Start < changes[i-1].Span.End {
			// Distinct scalars never overlap; this guards the splice.
			errs = append(errs, &FileError{File: changes[i].File, Line: changes[i].Line,
				Err: fmt.Errorf("%w: overlapping edits", ErrConflict)})
		}
	}
	return changes, errs
}

// OldValue is Old, under the name of Flux's commit message templates.
func (c Change) OldValue() string { return c.Old }

// NewValue is New, under the name of Flux's commit message templates.
func (c Change) NewValue() string { return c.New }
