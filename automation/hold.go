package automation

import (
	"strings"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/policy"
	"github.com/hoist-dev/hoist/writeback"
)

// KeptReason says why a change was kept back: the value in Git stays as it
// is (see docs/selection.md, "Holds and the downgrade guard").
type KeptReason string

// The reasons a change is kept back.
const (
	// KeptDowngrade: the new value is an older version than Git has, and
	// the policy does not set allowDowngrade.
	KeptDowngrade KeptReason = "downgrade"
	// KeptHold: the target is held, by its marker ("hold": true), by its
	// object's annotation hoist.dev/hold: "true", or by its policy's
	// spec.hold.
	KeptHold KeptReason = "hold"
	// KeptManual: a person changed the value since hoist last wrote it,
	// its policy sets respectManualChanges, and the new value is not newer
	// than both the manual one and the one hoist had written.
	KeptManual KeptReason = "manual"
)

// Kept is a change that was not made: Old stays in Git, New is what the
// policy selected.
type Kept struct {
	writeback.Change
	Reason KeptReason `json:"reason"`
	// Written is, for KeptManual, the value hoist last wrote (the one the
	// person replaced).
	Written string `json:"written,omitempty"`
}

// String says why in words, as the text outputs print it after
// "kept OLD: ".
func (k Kept) String() string {
	switch k.Reason {
	case KeptHold:
		return k.New + " is held"
	case KeptManual:
		return k.New + " is held after a manual change (hoist wrote " + k.Written + ")"
	}
	return k.New + " is older"
}

// LastWritten answers, for respectManualChanges, the last value hoist wrote
// to the target of a change (the change's File relative to the update
// root); false when it wrote none.
type LastWritten func(c writeback.Change) (value string, ok bool)

// policyFlags are the documents' hold, respectManualChanges and
// allowDowngrade, by policy key.
type policyFlags struct {
	hold, manual, downgrade map[string]bool
}

func flagsOf(set *config.Set, keys []string) policyFlags {
	f := policyFlags{hold: map[string]bool{}, manual: map[string]bool{}, downgrade: map[string]bool{}}
	if set == nil {
		return f
	}
	for _, key := range keys {
		ns, n, ok := cutKey(key)
		if !ok {
			continue
		}
		if p := set.Policy(ns, n); p != nil {
			f.hold[key] = p.Spec.Hold
			f.manual[key] = p.Spec.RespectManualChanges
			f.downgrade[key] = p.Spec.AllowDowngrade
		}
	}
	return f
}

// splitHeld separates the held targets from the others.
func splitHeld(targets []writeback.Target, f policyFlags) (free, held []writeback.Target) {
	for _, t := range targets {
		if t.Hold || f.hold[t.Policy] {
			held = append(held, t)
		} else {
			free = append(free, t)
		}
	}
	return free, held
}

// keptHeld is what the held targets would have become.
func keptHeld(held []writeback.Target, sel writeback.Selections) []Kept {
	if len(held) == 0 {
		return nil
	}
	var out []Kept
	for _, c := range writeback.Plan(held, sel).Changes {
		out = append(out, Kept{Change: c, Reason: KeptHold})
	}
	return out
}

// withoutManual keeps back the changes of values a person changed by hand,
// for policies with respectManualChanges: Git's value (Old) differs from
// the last value hoist wrote there, and the new value is not newer than
// both of them. Versions compare as semver; values that are not versions
// are newer when they differ from the value hoist wrote (the policy moved
// on since).
func withoutManual(changes []writeback.Change, f policyFlags, last LastWritten) (kept []writeback.Change, held []Kept) {
	if last == nil {
		return changes, nil
	}
	for _, c := range changes {
		if f.manual[c.Policy] {
			if w, ok := last(c); ok && w != c.Old && !newerThan(c.New, c.Old, w) {
				held = append(held, Kept{Change: c, Reason: KeptManual, Written: w})
				continue
			}
		}
		kept = append(kept, c)
	}
	return kept, held
}

// newerThan reports whether v is newer than both manual and written.
func newerThan(v, manual, written string) bool {
	if c, ok := policy.CompareVersions(tagOf(v), tagOf(written)); ok {
		if c <= 0 {
			return false
		}
		c2, ok := policy.CompareVersions(tagOf(v), tagOf(manual))
		return !ok || c2 > 0
	}
	return v != written
}

// cutKey splits a marker's policy key NAMESPACE:NAME; false for an inline
// key.
func cutKey(key string) (ns, name string, ok bool) {
	ns, name, ok = strings.Cut(key, ":")
	return ns, name, ok && ns != "inline"
}
