package policy

import "strings"

// semverRange evaluates a Masterminds/semver range on a parsed version
// without allocating. Masterminds' Constraints.Check builds an error value
// for every failed comparison, which costs several allocations a tag; over
// 100,000 tags that dominates selection. The range is still parsed and
// validated by semver.NewConstraint first; this is a second reading of the
// same grammar, and FuzzSemverRange checks that both agree on every range
// and version. A range this reading does not understand is left to
// Masterminds (compileRange returns false).
type semverRange struct {
	groups     [][]rangeTerm // OR of ANDs
	includePre []bool        // per group: a term names a pre-release
}

type rangeOp uint8

const (
	opTildeOrEqual rangeOp = iota
	opNotEqual
	opGreater
	opLess
	opGreaterEqual
	opLessEqual
	opTilde
	opCaret
)

type rangeTerm struct {
	op                            rangeOp
	con                           version
	dirty, minorDirty, patchDirty bool
}

// compileRange reads a range that semver.NewConstraint accepted.
func compileRange(s string) (*semverRange, bool) {
	if strings.ContainsAny(s, "\t\n\r\v\f") {
		return nil, false // leave unusual whitespace to Masterminds
	}
	s, ok := rewriteHyphens(s)
	if !ok {
		return nil, false
	}
	r := &semverRange{}
	for _, group := range strings.Split(s, "||") {
		var terms []rangeTerm
		pre := false
		for _, tok := range splitTerms(group) {
			t, ok := parseTerm(tok)
			if !ok {
				return nil, false
			}
			if t.con.pre != "" {
				pre = true
			}
			terms = append(terms, t)
		}
		if len(terms) == 0 {
			return nil, false
		}
		r.groups = append(r.groups, terms)
		r.includePre = append(r.includePre, pre)
	}
	return r, true
}

// rewriteHyphens turns "A - B" into ">=A <=B" (the spaces around the hyphen
// are what make it a range).
func rewriteHyphens(s string) (string, bool) {
	if !strings.Contains(s, " - ") {
		return s, true
	}
	fields := strings.Fields(s)
	var out []string
	for i := 0; i < len(fields); i++ {
		if i+2 < len(fields) && fields[i+1] == "-" {
			a, b := fields[i], fields[i+2]
			if strings.ContainsAny(a, "<>=!~^,|") || strings.ContainsAny(b, "<>=!~^,|") {
				return "", false
			}
			out = append(out, ">="+a, "<="+b)
			i += 2
			continue
		}
		if fields[i] == "-" {
			return "", false
		}
		out = append(out, fields[i])
	}
	return strings.Join(out, " "), true
}

// splitTerms splits an AND group at commas and spaces, keeping an operator
// that is separated from its version by spaces ("> 1.2") with it.
func splitTerms(g string) []string {
	var toks []string
	for _, f := range strings.FieldsFunc(g, func(r rune) bool { return r == ' ' || r == ',' }) {
		if n := len(toks); n > 0 && isOp(toks[n-1]) {
			toks[n-1] += f
			continue
		}
		toks = append(toks, f)
	}
	return toks
}

func isOp(s string) bool {
	switch s {
	case "=", "!=", ">", "<", ">=", "=>", "<=", "=<", "~", "~>", "^":
		return true
	}
	return false
}

func parseTerm(tok string) (rangeTerm, bool) {
	var t rangeTerm
	for _, o := range []struct {
		s  string
		op rangeOp
	}{
		{">=", opGreaterEqual}, {"=>", opGreaterEqual}, {"<=", opLessEqual}, {"=<", opLessEqual},
		{"!=", opNotEqual}, {"~>", opTilde}, {">", opGreater}, {"<", opLess},
		{"~", opTilde}, {"^", opCaret}, {"=", opTildeOrEqual},
	} {
		if strings.HasPrefix(tok, o.s) {
			t.op = o.op
			tok = tok[len(o.s):]
			break
		}
	}
	if tok == "" || strings.ContainsAny(tok, "|<>=!~^") {
		return t, false
	}
	rest := strings.TrimPrefix(tok, "v")
	// Split off pre-release and metadata; the numeric part may hold x, X, *.
	core, tail := rest, ""
	if i := strings.IndexAny(rest, "-+"); i >= 0 {
		core, tail = rest[:i], rest[i:]
	}
	pre := ""
	if strings.HasPrefix(tail, "-") {
		pre = tail[1:]
		if j := strings.IndexByte(pre, '+'); j >= 0 {
			pre = pre[:j]
		}
	}
	parts := strings.Split(core, ".")
	if len(parts) > 3 {
		return t, false
	}
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	wild := func(s string) bool { return s == "" || s == "x" || s == "X" || s == "*" }
	var ver string
	switch {
	case wild(parts[0]):
		ver, t.dirty = "0.0.0", true
	case wild(parts[1]):
		ver, t.dirty, t.minorDirty = parts[0]+".0.0", true, true
	case wild(parts[2]):
		ver, t.dirty, t.patchDirty = parts[0]+"."+parts[1]+".0", true, true
	default:
		ver = core
	}
	if pre != "" {
		ver += "-" + pre
	}
	v, ok := parseVersion(ver)
	if !ok {
		return t, false
	}
	t.con = v
	return t, true
}

// check reports whether v satisfies the range, as Constraints.Check does.
func (r *semverRange) check(v *version) bool {
	for i, g := range r.groups {
		ok := true
		for j := range g {
			if !g[j].check(v, r.includePre[i]) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (t *rangeTerm) check(v *version, includePre bool) bool {
	if v.pre != "" && !includePre {
		return false
	}
	c := &t.con
	switch t.op {
	case opNotEqual:
		if t.dirty {
			if c.major != v.major {
				return true
			}
			if c.minor != v.minor && !t.minorDirty {
				return true
			} else if t.minorDirty {
				return false
			} else if c.patch != v.patch && !t.patchDirty {
				return true
			} else if t.patchDirty {
				if v.pre != "" || c.pre != "" {
					return comparePrerelease(v.pre, c.pre) != 0
				}
				return false
			}
		}
		return compareVersions(v, c) != 0
	case opGreater:
		if !t.dirty {
			return compareVersions(v, c) > 0
		}
		switch {
		case v.major > c.major:
			return true
		case v.major < c.major:
			return false
		case t.minorDirty:
			return false
		case t.patchDirty:
			return v.minor > c.minor
		}
		return compareVersions(v, c) > 0
	case opLess:
		return compareVersions(v, c) < 0
	case opGreaterEqual:
		return compareVersions(v, c) >= 0
	case opLessEqual:
		if !t.dirty {
			return compareVersions(v, c) <= 0
		}
		if v.major > c.major {
			return false
		}
		return v.major != c.major || v.minor <= c.minor || t.minorDirty
	case opTilde:
		return t.tilde(v)
	case opTildeOrEqual:
		if t.dirty {
			return t.tilde(v)
		}
		return compareVersions(v, c) == 0
	case opCaret:
		if compareVersions(v, c) < 0 {
			return false
		}
		if c.major > 0 || t.minorDirty {
			return v.major == c.major
		}
		if v.major > 0 {
			return false
		}
		if c.minor > 0 || t.patchDirty {
			return v.minor == c.minor
		}
		if v.minor > 0 {
			return false
		}
		return c.patch == v.patch
	}
	return false
}

func (t *rangeTerm) tilde(v *version) bool {
	c := &t.con
	if compareVersions(v, c) < 0 {
		return false
	}
	if c.major == 0 && c.minor == 0 && c.patch == 0 && !t.minorDirty && !t.patchDirty {
		return true
	}
	if v.major != c.major {
		return false
	}
	return v.minor == c.minor || t.minorDirty
}
