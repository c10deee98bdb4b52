package policy

import (
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// extractor applies filterTags.pattern and filterTags.extract to a tag the
// way Flux's image-reflector-controller does: a tag the pattern does not
// match is dropped; an empty template keeps the whole tag; otherwise the
// template is expanded (regexp's Expand rules) on the first, leftmost match
// only, and the rest of the tag is not part of the value.
//
// It runs the regular expression once per tag, and not at all for a tag that
// lacks the literal every match starts with. A template that is one group
// reference ($ts, ${ts}, $1) slices the tag instead of expanding it.
type extractor struct {
	re   *regexp.Regexp
	tmpl string
	// single is set when tmpl is exactly one group reference; groups are
	// the groups it may name, in the order Expand tries them (the same name
	// may be given to several groups), none when it names no group.
	single bool
	groups []int
	// prefix is a literal every match starts with; anchored says a match
	// starts at the beginning of the tag.
	prefix   string
	anchored bool
}

func newExtractor(re *regexp.Regexp, tmpl string) *extractor {
	e := &extractor{re: re, tmpl: tmpl}
	if tree, err := syntax.Parse(re.String(), syntax.Perl); err == nil {
		var b strings.Builder
		leadingLiteral(tree, &b, &e.anchored)
		e.prefix = b.String()
	}
	if name, ok := singleReference(tmpl); ok {
		e.single = true
		e.groups = groupsNamed(re, name)
	}
	return e
}

// find returns the ordered value of tag, and false when the pattern does not
// match. When the template had to be expanded, expanded is set and the value
// is in *buf, scratch space reused across calls, until the next call.
func (e *extractor) find(tag string, buf *[]byte) (value string, expanded, ok bool) {
	if !e.mayMatch(tag) {
		return "", false, false
	}
	if e.tmpl == "" {
		if !e.re.MatchString(tag) {
			return "", false, false
		}
		return tag, false, true
	}
	loc := e.re.FindStringSubmatchIndex(tag)
	if loc == nil {
		return "", false, false
	}
	if e.single {
		for _, g := range e.groups {
			if loc[2*g] >= 0 {
				return tag[loc[2*g]:loc[2*g+1]], false, true
			}
		}
		return "", false, true
	}
	*buf = e.re.ExpandString((*buf)[:0], e.tmpl, tag, loc)
	return "", true, true
}

// mayMatch is false when tag cannot match: it lacks the literal every match
// starts with. Much cheaper than the regular expression engine.
func (e *extractor) mayMatch(tag string) bool {
	if e.prefix == "" {
		return true
	}
	if e.anchored {
		return strings.HasPrefix(tag, e.prefix)
	}
	return strings.Contains(tag, e.prefix)
}

// leadingLiteral writes to b the literal text every match of re starts with
// and sets anchored when re matches only at the beginning of the text. It
// reports whether all of re was literal. Case-folded literals and U+FFFD
// (which also matches an invalid byte) end the literal, as in regexp's own
// prefix.
func leadingLiteral(re *syntax.Regexp, b *strings.Builder, anchored *bool) bool {
	switch re.Op {
	case syntax.OpBeginText:
		if b.Len() == 0 {
			*anchored = true
		}
		return true
	case syntax.OpEmptyMatch:
		return true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return false
		}
		for _, r := range re.Rune {
			if r == utf8.RuneError {
				return false
			}
			b.WriteRune(r)
		}
		return true
	case syntax.OpCapture:
		return leadingLiteral(re.Sub[0], b, anchored)
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !leadingLiteral(sub, b, anchored) {
				return false
			}
		}
		return true
	}
	return false
}

// singleReference returns the group name of a template that is exactly one
// reference, $name or ${name}, with name of ASCII letters, digits and _.
// Other templates (literal text, several references, $$) are expanded.
func singleReference(tmpl string) (string, bool) {
	name, ok := strings.CutPrefix(tmpl, "$")
	if !ok {
		return "", false
	}
	if inner, ok := strings.CutPrefix(name, "{"); ok {
		if name, ok = strings.CutSuffix(inner, "}"); !ok {
			return "", false
		}
	}
	if name == "" {
		return "", false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c != '_' && (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return "", false
		}
	}
	return name, true
}

// groupsNamed returns the groups a reference names, by regexp's Expand
// rules: a number without a leading zero (below 1e8) is the group of that
// index, any other name the groups of that name.
func groupsNamed(re *regexp.Regexp, name string) []int {
	num := 0
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' || num >= 1e8 {
			num = -1
			break
		}
		num = num*10 + int(name[i]-'0')
	}
	if name[0] == '0' && len(name) > 1 {
		num = -1
	}
	if num >= 0 {
		if num > re.NumSubexp() {
			return nil
		}
		return []int{num}
	}
	var groups []int
	for i, n := range re.SubexpNames() {
		if n == name {
			groups = append(groups, i)
		}
	}
	return groups
}
