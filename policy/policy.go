// Package policy selects one tag from a list of tags according to a rule.
//
// It is pure: no I/O, no clock, no logger. A Spec (strings, as written in a
// document or on the command line) is compiled once with Compile into a
// Policy, which then selects from any number of tag lists. Facts that only a
// registry knows (build time, platforms, digest) are asked for lazily through
// a FactsFunc supplied by the caller, best candidate first, so that a policy
// over many tags asks for as few facts as possible.
//
// Ties are broken deterministically: among tags whose ordered values are
// equal (semver 1.2 and 1.2.0, v1.2.0 and 1.2.0, two tags that extract to the
// same value), the tag that is greatest byte by byte wins. The answer never
// depends on the order of the input.
package policy

import (
	"errors"
	"fmt"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gobwas/glob"
)

// ErrNoMatch is returned (wrapped) by Select when no tag passes the filters
// and the rule. Test for it with errors.Is.
var ErrNoMatch = errors.New("no tag matches")

// ErrInvalidPolicy is returned (wrapped) by Compile and ParseShorthand when
// the policy cannot be used. Test for it with errors.Is.
var ErrInvalidPolicy = errors.New("invalid policy")

// DefaultExclusionList is the exclusion list used when a document does not
// set one: cosign's signature, attestation and SBOM tags.
var DefaultExclusionList = []string{`^.*\.sig$`, `^.*\.att$`, `^.*\.sbom$`}

// Rule names the ordering rule of a policy.
type Rule string

// The rules.
const (
	RuleSemver       Rule = "semver"
	RuleAlphabetical Rule = "alphabetical"
	RuleNumerical    Rule = "numerical"
	RuleNewestBuild  Rule = "newestBuild"
	RuleDigest       Rule = "digest"
)

// Order is the direction of alphabetical and numerical rules: Ascending
// (the default) picks the last tag in ascending order, Descending the first.
type Order string

// The orders.
const (
	Ascending  Order = "asc"
	Descending Order = "desc"
)

// Spec is an uncompiled policy, in the terms of an ImagePolicy document (see
// docs/documents.md and docs/selection.md). Exactly one
// of the rule fields (Semver, Alphabetical, Numerical, NewestBuild, Digest)
// must be set.
type Spec struct {
	// Exclude holds RE2 patterns; a tag matching any is dropped.
	Exclude []string
	// Pattern is an RE2 pattern; tags that do not match are dropped.
	Pattern string
	// Extract is a template over Pattern's groups ($name, ${name}, $1),
	// expanded on the first match as Flux does; the result is the value that
	// is ordered. Empty means the whole tag.
	Extract string
	// Glob is a gobwas/glob pattern; tags that do not match are dropped.
	Glob string

	Semver       *SemverSpec
	Alphabetical *OrderSpec
	Numerical    *OrderSpec
	NewestBuild  *NewestBuildSpec
	Digest       *DigestSpec

	// Platforms, when set, keeps only candidates whose image serves every
	// listed platform (os/arch[/variant]). Needs facts.
	Platforms []string
	// MinAge, when positive, keeps only candidates built at least this long
	// before Options.Now. Needs facts.
	MinAge time.Duration
	// Verify keeps only candidates whose facts say Verified (their digest
	// carries a valid signature; the caller checks it). Needs facts.
	Verify bool
}

// SemverSpec orders by semantic version within a Masterminds range.
type SemverSpec struct {
	Range string
	// Strict accepts only three-part versions (a leading v allowed), as
	// Flux's image-reflector-controller does. Set for Flux's API groups.
	Strict bool
}

// OrderSpec is the direction of an alphabetical or numerical rule.
type OrderSpec struct {
	Order Order // "" means Ascending
}

// NewestBuildSpec orders by the build time of each candidate's image.
type NewestBuildSpec struct{}

// DigestSpec follows the digest of one (mutable) tag.
type DigestSpec struct {
	Tag string
}

// Facts are what a registry knows about a tag. A FactsFunc fills only what
// it was asked for (see Need).
type Facts struct {
	Digest    string
	Created   time.Time
	Platforms []string
	// Verified is true when the tag's digest carries a valid signature;
	// Unverified says why not (shown in a Verdict), when it is false.
	Verified   bool
	Unverified string
}

// Need says which facts a policy asks for.
type Need struct {
	Created   bool
	Platforms bool
	Digest    bool
	// Verified asks whether the digest carries a valid signature.
	Verified bool
}

// FactsFunc returns facts of one tag. It is called lazily, best candidate
// first, and at most once per tag within one Select; a policy that
// verifies asks once more, with only Need.Verified, for a candidate that
// passed every other check.
type FactsFunc func(tag string, need Need) (Facts, error)

// Options are the inputs of one Select besides the tags.
type Options struct {
	// Facts is required when the policy's Needs() is not zero.
	Facts FactsFunc
	// Now is the reference time for MinAge.
	Now time.Time
	// Explain asks for a Verdict per tag in Result.Explain (slower).
	Explain bool
}

// Result is the outcome of a successful Select.
type Result struct {
	// Tag is the selected tag.
	Tag string
	// Value is the ordered value of Tag (the extracted value, or the tag).
	Value string
	// Digest is set when the facts of the selected tag carried one.
	Digest string
	// Candidates counts tags that passed every filter.
	Candidates int
	// Dropped counts tags removed by a filter or the rule.
	Dropped int
	// Explain holds one Verdict per input tag, in input order, when asked.
	Explain []Verdict
}

// Verdict says what happened to one tag.
type Verdict struct {
	Tag string `json:"tag"`
	// Value is the ordered value (after extract), if the tag got that far.
	Value string `json:"value,omitempty"`
	// Rank is the 1-based position among candidates (1 = selected), 0 when
	// dropped or not ranked.
	Rank int `json:"rank,omitempty"`
	// Dropped is the reason the tag was dropped; empty for candidates.
	Dropped string `json:"dropped,omitempty"`
}

// FieldError is an error in one field of a Spec. It wraps ErrInvalidPolicy.
type FieldError struct {
	// Field is the path of the field in document terms, for example
	// "filterTags.pattern" or "policy.semver.range".
	Field string
	Err   error
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %v", e.Field, e.Err) }

// Unwrap returns both the cause and ErrInvalidPolicy.
func (e *FieldError) Unwrap() []error { return []error{ErrInvalidPolicy, e.Err} }

// Policy is a compiled Spec. It is immutable and safe for concurrent use.
type Policy struct {
	spec       Spec
	rule       Rule
	exclude    []matcher
	pattern    *extractor // nil without filterTags.pattern
	glob       glob.Glob
	constraint *semver.Constraints
	rng        *semverRange // nil: use constraint (slower)
	order      Order
	platforms  []string
}
