package policy

import (
	"container/heap"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"
)

// Drop reasons, as they appear in Verdict.Dropped.
const (
	reasonExcluded    = "excluded by exclusionList"
	reasonGlob        = "does not match filterTags.glob"
	reasonPattern     = "does not match filterTags.pattern"
	reasonNotVersion  = "not a semantic version"
	reasonNotStrict   = "not a three-part semantic version (Flux API)"
	reasonOutOfRange  = "outside the semver range"
	reasonPreRelease  = "a pre-release, and the range names none"
	reasonNotNumber   = "not a number"
	reasonNotDigest   = "not the followed tag"
	reasonNoBuildTime = "build time unknown"
	reasonTooYoung    = "younger than minAge"
	reasonPlatforms   = "does not serve every platform in platforms"
	reasonUnverified  = "not verified"
)

// cand is a tag that passed the filters, with its ordered value.
type cand struct {
	tag   string
	value string
	ver   version
	num   float64
	built time.Time
}

// Select picks one tag from tags. It returns an error wrapping ErrNoMatch when
// no tag qualifies, and the FactsFunc's error when facts were needed and could
// not be had. The tags slice is not modified.
func (p *Policy) Select(tags []string, opts Options) (Result, error) {
	need := p.Needs()
	if need != (Need{}) && opts.Facts == nil {
		return Result{}, fmt.Errorf("%w: rule %s needs image facts, none were supplied", ErrInvalidPolicy, p.rule)
	}
	if opts.Explain {
		return p.selectExplained(tags, opts)
	}
	if need == (Need{}) {
		return p.selectFast(tags)
	}
	var (
		res   Result
		cands []cand
	)
	for _, t := range tags {
		c, reason := p.admit(t)
		if reason != "" {
			res.Dropped++
			continue
		}
		cands = append(cands, c)
	}
	return p.pickWithFacts(cands, opts, res, nil)
}

// selectFast is one pass over the tags keeping the best candidate, with no
// sort and no allocation per tag beyond what extract needs. A numerical value
// expanded from a template is parsed where it was expanded, and becomes a
// string only when its tag is the best so far.
func (p *Policy) selectFast(tags []string) (Result, error) {
	var (
		res  Result
		best cand
		have bool
		buf  []byte
	)
	for _, t := range tags {
		c, expanded, reason := p.filterLazy(t, &buf)
		switch {
		case reason != "":
		case expanded && p.rule == RuleNumerical:
			reason = parseNumber(&c, string(buf))
		default:
			if expanded {
				c.value, expanded = string(buf), false
			}
			reason = p.parse(&c)
		}
		if reason != "" {
			res.Dropped++
			continue
		}
		if p.rule == RuleSemver && !p.inRange(&c) {
			res.Dropped++
			continue
		}
		res.Candidates++
		if !have || p.better(&c, &best) {
			if expanded {
				c.value = string(buf)
			}
			best, have = c, true
		}
	}
	if !have {
		return res, p.noMatch(len(tags))
	}
	res.Tag, res.Value = best.tag, best.value
	return res, nil
}

func (p *Policy) noMatch(n int) error {
	switch n {
	case 0:
		return fmt.Errorf("%w: there are no tags to select from with policy %s", ErrNoMatch, p)
	case 1:
		return fmt.Errorf("%w: the only tag does not pass policy %s", ErrNoMatch, p)
	}
	return fmt.Errorf("%w: none of %d tags passes policy %s", ErrNoMatch, n, p)
}

// admit runs the filters and the rule's own test, the range included.
func (p *Policy) admit(t string) (cand, string) {
	var buf []byte
	c, reason := p.filter(t, &buf)
	if reason == "" {
		reason = p.parse(&c)
	}
	if reason == "" && p.rule == RuleSemver && !p.inRange(&c) {
		reason = reasonOutOfRange
		if c.ver.pre != "" && p.rng != nil && !slices.Contains(p.rng.includePre, true) {
			reason = reasonPreRelease
		}
	}
	return c, reason
}

// Excluded reports whether tag matches the policy's exclusion list (the
// ImageRepository's exclusionList): such a tag is never a candidate, and
// Flux does not count it among the repository's tags.
func (p *Policy) Excluded(tag string) bool {
	newline := strings.IndexByte(tag, '\n') >= 0
	for _, m := range p.exclude {
		if (newline && m.re.MatchString(tag)) || (!newline && m.match(tag)) {
			return true
		}
	}
	return false
}

// filter applies the exclusion list, the glob and the pattern, and extracts
// the ordered value. buf is scratch space for extract, reused across tags.
func (p *Policy) filter(t string, buf *[]byte) (cand, string) {
	c, expanded, reason := p.filterLazy(t, buf)
	if expanded {
		c.value = string(*buf)
	}
	return c, reason
}

// filterLazy is filter, but when extract expanded a template, the value is
// left in *buf and expanded is set.
func (p *Policy) filterLazy(t string, buf *[]byte) (c cand, expanded bool, reason string) {
	c = cand{tag: t, value: t}
	if p.Excluded(t) {
		return c, false, reasonExcluded
	}
	if p.glob != nil && !p.glob.Match(t) {
		return c, false, reasonGlob
	}
	if p.pattern != nil {
		v, expanded, ok := p.pattern.find(t, buf)
		if !ok {
			return c, false, reasonPattern
		}
		c.value = v
		return c, expanded, ""
	}
	return c, false, ""
}

// parse reads the ordered value as the rule needs it.
func (p *Policy) parse(c *cand) string {
	switch p.rule {
	case RuleSemver:
		v, ok := parseVersion(c.value)
		if !ok {
			return reasonNotVersion
		}
		if p.spec.Semver.Strict && !strictVersion(c.value) {
			return reasonNotStrict
		}
		c.ver = v
	case RuleNumerical:
		return parseNumber(c, c.value)
	case RuleDigest:
		if c.tag != p.spec.Digest.Tag {
			return reasonNotDigest
		}
	}
	return ""
}

// parseNumber reads s, the ordered value of c, as a number.
func parseNumber(c *cand, s string) string {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return reasonNotNumber
	}
	c.num = f
	return ""
}

func (p *Policy) inRange(c *cand) bool {
	if p.rng != nil {
		return p.rng.check(&c.ver)
	}
	v, err := semver.NewVersion(c.value)
	if err != nil {
		return false // parseVersion and NewVersion agree (fuzzed); be safe anyway
	}
	return p.constraint.Check(v)
}

// compare orders two candidates by the rule: >0 when a ranks above b.
// Candidates of equal rank are ordered by their tags, the greater above.
func (p *Policy) compare(a, b *cand) int {
	var c int
	switch p.rule {
	case RuleSemver:
		c = compareVersions(&a.ver, &b.ver)
	case RuleAlphabetical:
		c = strings.Compare(a.value, b.value)
		if p.order == Descending {
			c = -c
		}
	case RuleNumerical:
		switch {
		case a.num < b.num:
			c = -1
		case a.num > b.num:
			c = 1
		}
		if p.order == Descending {
			c = -c
		}
	case RuleNewestBuild:
		c = a.built.Compare(b.built)
	}
	if c != 0 {
		return c
	}
	return strings.Compare(a.tag, b.tag)
}

func (p *Policy) better(a, b *cand) bool { return p.compare(a, b) > 0 }

// factsCache asks the FactsFunc at most once per tag for the facts other
// than verification (build time, platforms, digest), and at most once per
// tag for verification, which is asked only of candidates that passed every
// other check.
type factsCache struct {
	fn       FactsFunc
	need     Need
	seen     map[string]Facts
	verified map[string]bool
}

// get returns the facts of tag; with verify, its verification too.
func (f *factsCache) get(tag string, verify bool) (Facts, error) {
	base := f.need
	base.Verified = false
	fa, seen := f.seen[tag]
	if !seen && base != (Need{}) {
		var err error
		if fa, err = f.fn(tag, base); err != nil {
			return Facts{}, fmt.Errorf("reading facts of tag %q: %w", tag, err)
		}
		if f.seen == nil {
			f.seen = map[string]Facts{}
		}
		f.seen[tag] = fa
	}
	if !verify || !f.need.Verified {
		return fa, nil
	}
	if f.verified[tag] {
		return f.seen[tag], nil
	}
	v, err := f.fn(tag, Need{Verified: true})
	if err != nil {
		return Facts{}, fmt.Errorf("verifying tag %q: %w", tag, err)
	}
	fa.Verified, fa.Unverified = v.Verified, v.Unverified
	if fa.Digest == "" {
		fa.Digest = v.Digest
	}
	if f.seen == nil {
		f.seen = map[string]Facts{}
	}
	if f.verified == nil {
		f.verified = map[string]bool{}
	}
	f.seen[tag], f.verified[tag] = fa, true
	return fa, nil
}

// check applies the metadata conditions (minAge, platforms) to one
// candidate; checkVerified applies verify.
func (p *Policy) check(fa Facts, now time.Time) string {
	if p.spec.MinAge > 0 {
		if fa.Created.IsZero() {
			return reasonNoBuildTime
		}
		if now.Sub(fa.Created) < p.spec.MinAge {
			return reasonTooYoung
		}
	}
	for _, want := range p.platforms {
		if !slices.Contains(fa.Platforms, want) {
			return reasonPlatforms
		}
	}
	return ""
}

// checkVerified applies verify to one candidate whose facts include its
// verification.
func (p *Policy) checkVerified(fa Facts) string {
	if !p.spec.Verify || fa.Verified {
		return ""
	}
	if fa.Unverified != "" {
		return reasonUnverified + ": " + fa.Unverified
	}
	return reasonUnverified
}

// pickWithFacts orders candidates (a heap, so only as many as needed are
// taken out) and asks for facts best first until one passes. For the
// newest-build rule every candidate's build time is needed first. When
// verdicts is not nil it is filled (index by tag order in cands).
func (p *Policy) pickWithFacts(cands []cand, opts Options, res Result, verdicts map[string]*Verdict) (Result, error) {
	fc := &factsCache{fn: opts.Facts, need: p.Needs()}
	if p.rule == RuleNewestBuild {
		kept := cands[:0:0]
		for _, c := range cands {
			fa, err := fc.get(c.tag, false)
			if err != nil {
				return res, err
			}
			if fa.Created.IsZero() {
				res.Dropped++
				if v := verdicts[c.tag]; v != nil {
					v.Dropped = reasonNoBuildTime
				}
				continue
			}
			c.built = fa.Created
			kept = append(kept, c)
		}
		cands = kept
	}
	h := &candHeap{p: p, c: cands}
	heap.Init(h)
	rank := 0
	var chosen *cand
	for h.Len() > 0 {
		c := heap.Pop(h).(cand)
		if chosen == nil {
			fa, err := fc.get(c.tag, false)
			if err != nil {
				return res, err
			}
			reason := p.check(fa, opts.Now)
			if reason == "" && p.spec.Verify {
				// Verification last: only a candidate that passed the
				// other checks is verified.
				if fa, err = fc.get(c.tag, true); err != nil {
					return res, err
				}
				reason = p.checkVerified(fa)
			}
			if reason != "" {
				res.Dropped++
				if v := verdicts[c.tag]; v != nil {
					v.Dropped = reason
				}
				continue
			}
			res.Digest = fa.Digest
			chosen = &c
		}
		rank++
		res.Candidates++
		if verdicts == nil {
			// Without explain the rest need no facts; count them.
			res.Candidates += h.Len()
			break
		}
		if v := verdicts[c.tag]; v != nil {
			v.Rank = rank
		}
	}
	if chosen == nil {
		return res, p.noMatch(res.Candidates + res.Dropped)
	}
	res.Tag, res.Value = chosen.tag, chosen.value
	return res, nil
}

// selectExplained evaluates every tag and records a verdict for each.
func (p *Policy) selectExplained(tags []string, opts Options) (Result, error) {
	res := Result{Explain: make([]Verdict, len(tags))}
	verdicts := make(map[string]*Verdict, len(tags))
	var cands []cand
	for i, t := range tags {
		c, reason := p.admit(t)
		res.Explain[i] = Verdict{Tag: t, Dropped: reason}
		if reason != "" && reason != reasonExcluded && reason != reasonGlob && reason != reasonPattern {
			res.Explain[i].Value = c.value
		}
		if reason != "" {
			res.Dropped++
			continue
		}
		res.Explain[i].Value = c.value
		if _, dup := verdicts[t]; dup {
			res.Explain[i].Dropped = "duplicate tag"
			res.Dropped++
			continue
		}
		verdicts[t] = &res.Explain[i]
		cands = append(cands, c)
	}
	if p.Needs() != (Need{}) {
		return p.pickWithFacts(cands, opts, res, verdicts)
	}
	slices.SortFunc(cands, func(a, b cand) int { return p.compare(&b, &a) })
	for i, c := range cands {
		verdicts[c.tag].Rank = i + 1
	}
	res.Candidates = len(cands)
	if len(cands) == 0 {
		return res, p.noMatch(len(tags))
	}
	res.Tag, res.Value = cands[0].tag, cands[0].value
	return res, nil
}

// candHeap is a max-heap of candidates by rank.
type candHeap struct {
	p *Policy
	c []cand
}

func (h *candHeap) Len() int           { return len(h.c) }
func (h *candHeap) Less(i, j int) bool { return h.p.compare(&h.c[i], &h.c[j]) > 0 }
func (h *candHeap) Swap(i, j int)      { h.c[i], h.c[j] = h.c[j], h.c[i] }
func (h *candHeap) Push(x any)         { h.c = append(h.c, x.(cand)) }
func (h *candHeap) Pop() any {
	n := len(h.c) - 1
	x := h.c[n]
	h.c = h.c[:n]
	return x
}

// String describes the policy in shorthand terms, for messages.
func (p *Policy) String() string {
	var b strings.Builder
	switch p.rule {
	case RuleSemver:
		b.WriteString("semver:" + p.spec.Semver.Range)
	case RuleAlphabetical, RuleNumerical:
		b.WriteString(string(p.rule) + ":" + string(p.order))
	case RuleNewestBuild:
		b.WriteString("newest-build")
	case RuleDigest:
		b.WriteString("digest:" + p.spec.Digest.Tag)
	}
	if p.spec.Glob != "" {
		b.WriteString(" glob:" + p.spec.Glob)
	}
	if p.spec.Pattern != "" {
		b.WriteString(" pattern:" + p.spec.Pattern)
	}
	if p.spec.Extract != "" {
		b.WriteString(" extract:" + p.spec.Extract)
	}
	return b.String()
}
