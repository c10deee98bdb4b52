package policy

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
	"github.com/gobwas/glob"
)

// Compile checks a Spec and prepares it for selection. Every problem is
// reported, joined, each as a *FieldError naming the document field; the
// result wraps ErrInvalidPolicy.
func Compile(s Spec) (*Policy, error) {
	var c Compiler
	return c.Compile(s)
}

// Compiler compiles Specs as Compile does, sharing the compiled regular
// expressions of equal patterns between the policies it compiles (a
// regexp.Regexp is safe for concurrent use): 10,000 policies with the
// default exclusion list then hold one compiled copy of it instead of
// 10,000 (about 10 KB each). The zero value is ready to use; a Compiler is
// not safe for concurrent use.
type Compiler struct {
	re map[string]*regexp.Regexp
}

func (c *Compiler) regexp(expr string) (*regexp.Regexp, error) {
	if re, ok := c.re[expr]; ok {
		return re, nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	if c.re == nil {
		c.re = map[string]*regexp.Regexp{}
	}
	c.re[expr] = re
	return re, nil
}

// Compile is the package's Compile, with the Compiler's shared patterns.
func (c *Compiler) Compile(s Spec) (*Policy, error) {
	p := &Policy{spec: s, order: Ascending}
	var errs []error
	bad := func(field string, err error) { errs = append(errs, &FieldError{Field: field, Err: err}) }

	for i, ex := range s.Exclude {
		re, err := c.regexp(ex)
		if err != nil {
			bad(fmt.Sprintf("exclusionList[%d]", i), fmt.Errorf("compiling %q: %w", ex, err))
			continue
		}
		p.exclude = append(p.exclude, newMatcher(re))
	}
	var pattern *regexp.Regexp
	if s.Pattern != "" {
		re, err := c.regexp(s.Pattern)
		if err != nil {
			bad("filterTags.pattern", fmt.Errorf("compiling %q: %w", s.Pattern, err))
		} else {
			pattern = re
			p.pattern = newExtractor(re, s.Extract)
		}
	}
	if s.Extract != "" {
		switch {
		case s.Pattern == "":
			bad("filterTags.extract", fmt.Errorf("extract %q needs filterTags.pattern", s.Extract))
		case pattern != nil:
			if err := checkExtract(pattern, s.Extract); err != nil {
				bad("filterTags.extract", err)
			}
		}
	}
	if s.Glob != "" {
		g, err := glob.Compile(s.Glob)
		switch n := globStars(s.Glob); {
		case err != nil:
			bad("filterTags.glob", fmt.Errorf("compiling %q: %w", s.Glob, err))
		case n > MaxGlobStars:
			bad("filterTags.glob", fmt.Errorf("%q has %d * wildcards; at most %d, since matching time grows exponentially with them", s.Glob, n, MaxGlobStars))
		default:
			p.glob = g
		}
	}

	var rules []Rule
	if s.Semver != nil {
		rules = append(rules, RuleSemver)
		c, err := semver.NewConstraint(s.Semver.Range)
		if err != nil {
			bad("policy.semver.range", fmt.Errorf("parsing range %q: %w", s.Semver.Range, err))
		}
		p.constraint = c
		if err == nil {
			p.rng, _ = compileRange(s.Semver.Range)
		}
	}
	if s.Alphabetical != nil {
		rules = append(rules, RuleAlphabetical)
		if err := p.setOrder(s.Alphabetical.Order); err != nil {
			bad("policy.alphabetical.order", err)
		}
	}
	if s.Numerical != nil {
		rules = append(rules, RuleNumerical)
		if err := p.setOrder(s.Numerical.Order); err != nil {
			bad("policy.numerical.order", err)
		}
	}
	if s.NewestBuild != nil {
		rules = append(rules, RuleNewestBuild)
	}
	if s.Digest != nil {
		rules = append(rules, RuleDigest)
		if s.Digest.Tag == "" {
			bad("policy.digest.tag", errors.New("a tag to follow is required"))
		}
	}
	switch len(rules) {
	case 0:
		bad("policy", errors.New("one of semver, alphabetical, numerical, newestBuild or digest is required"))
	case 1:
		p.rule = rules[0]
	default:
		names := make([]string, len(rules))
		for i, r := range rules {
			names[i] = string(r)
		}
		bad("policy", fmt.Errorf("exactly one rule is allowed, found %s", strings.Join(names, " and ")))
	}
	for i, pl := range s.Platforms {
		if err := checkPlatform(pl); err != nil {
			bad(fmt.Sprintf("platforms[%d]", i), err)
		}
	}
	p.platforms = s.Platforms
	if s.MinAge < 0 {
		bad("minAge", fmt.Errorf("must not be negative, got %s", s.MinAge))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// MustCompile is Compile that panics on error, for tests and examples.
func MustCompile(s Spec) *Policy {
	p, err := Compile(s)
	if err != nil {
		panic(err)
	}
	return p
}

func (p *Policy) setOrder(o Order) error {
	switch o {
	case "", Ascending:
		p.order = Ascending
	case Descending:
		p.order = Descending
	default:
		return fmt.Errorf("order %q: want asc or desc", o)
	}
	return nil
}

// Rule returns the ordering rule of the policy.
func (p *Policy) Rule() Rule { return p.rule }

// Spec returns the Spec the policy was compiled from.
func (p *Policy) Spec() Spec { return p.spec }

// Needs says which facts Select will ask the FactsFunc for.
func (p *Policy) Needs() Need {
	return Need{
		Created:   p.rule == RuleNewestBuild || p.spec.MinAge > 0,
		Platforms: len(p.platforms) > 0,
		Digest:    p.rule == RuleDigest,
		Verified:  p.spec.Verify,
	}
}

func checkPlatform(s string) error {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Errorf("platform %q: want os/arch or os/arch/variant", s)
	}
	for _, part := range parts {
		if part == "" {
			return fmt.Errorf("platform %q: empty part", s)
		}
	}
	return nil
}

// checkExtract reports an extract template that names a group the pattern
// does not have ($name, ${name}, $1, ${1}).
func checkExtract(re *regexp.Regexp, tmpl string) error {
	names := map[string]bool{}
	for _, n := range re.SubexpNames() {
		if n != "" {
			names[n] = true
		}
	}
	for i := 0; i < len(tmpl); i++ {
		if tmpl[i] != '$' || i+1 >= len(tmpl) {
			continue
		}
		rest := tmpl[i+1:]
		if rest[0] == '$' {
			i++
			continue
		}
		var name string
		if rest[0] == '{' {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return fmt.Errorf("extract %q: unclosed ${", tmpl)
			}
			name = rest[1:end]
		} else {
			j := 0
			for j < len(rest) && (rest[j] == '_' || rest[j] >= '0' && rest[j] <= '9' || rest[j] >= 'a' && rest[j] <= 'z' || rest[j] >= 'A' && rest[j] <= 'Z') {
				j++
			}
			name = rest[:j]
		}
		if name == "" {
			continue
		}
		if n, err := strconv.Atoi(name); err == nil {
			if n > re.NumSubexp() {
				return fmt.Errorf("extract %q: group $%d does not exist, the pattern has %d", tmpl, n, re.NumSubexp())
			}
			continue
		}
		if !names[name] {
			return fmt.Errorf("extract %q: the pattern has no group named %q", tmpl, name)
		}
	}
	return nil
}

// MaxGlobStars bounds the * wildcards of a glob filter: gobwas/glob's
// matching time grows exponentially with them (a pattern of twelve against
// a 128-byte tag takes 3 ms; of twenty-five, seconds), and a glob may come
// from an annotation in any manifest of a repository.
const MaxGlobStars = 8

// globStars counts the * of a glob that are wildcards (not escaped).
func globStars(g string) int {
	n := 0
	for i := 0; i < len(g); i++ {
		switch g[i] {
		case '\\':
			i++
		case '*':
			n++
		}
	}
	return n
}
