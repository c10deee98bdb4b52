package policy

// version is a semantic version parsed without allocating. It accepts
// exactly what Masterminds/semver's NewVersion accepts (with its default
// coercion), which FuzzParseVersion checks against the library itself.
type version struct {
	major, minor, patch uint64
	pre                 string // without the leading '-'
	parts               int    // how many of major, minor, patch were written
}

// maxVersionLen mirrors semver.MaxVersionLen.
const maxVersionLen = 256

// parseVersion parses s as NewVersion does: an optional 'v', one to three
// numeric parts, an optional pre-release and optional build metadata.
func parseVersion(s string) (version, bool) {
	var v version
	if len(s) == 0 || len(s) > maxVersionLen {
		return v, false
	}
	i := 0
	if s[0] == 'v' {
		i = 1
	}
	for v.parts < 3 {
		if v.parts > 0 {
			if i >= len(s) || s[i] != '.' {
				break
			}
			i++
		}
		start := i
		var n uint64
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			d := uint64(s[i] - '0')
			if n > (1<<64-1-d)/10 {
				return v, false // overflows uint64, as ParseUint would refuse
			}
			n = n*10 + d
			i++
		}
		if i == start {
			return v, false
		}
		switch v.parts {
		case 0:
			v.major = n
		case 1:
			v.minor = n
		case 2:
			v.patch = n
		}
		v.parts++
	}
	if i < len(s) && s[i] == '-' {
		i++
		start := i
		for i < len(s) && s[i] != '+' {
			i++
		}
		v.pre = s[start:i]
		if !validPrerelease(v.pre) {
			return v, false
		}
	}
	if i < len(s) && s[i] == '+' {
		if !validMetadata(s[i+1:]) {
			return v, false
		}
		i = len(s)
	}
	return v, i == len(s)
}

// strict reports whether s (a tag that parseVersion accepted) is what Flux's
// image-reflector-controller accepts: semver.StrictNewVersion after an
// optional leading 'v': three parts and no leading zeros.
func strictVersion(s string) bool {
	if len(s) > 0 && s[0] == 'v' {
		s = s[1:]
	}
	parts := 0
	for i := 0; i < len(s) && parts < 3; {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == start || (i-start > 1 && s[start] == '0') {
			return false
		}
		parts++
		if parts < 3 {
			if i >= len(s) || s[i] != '.' {
				return false
			}
			i++
		}
	}
	return parts == 3
}

func isAlnumHyphen(c byte) bool {
	return c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// validPrerelease: dot-separated, non-empty identifiers of [0-9A-Za-z-],
// numeric ones without leading zeros.
func validPrerelease(p string) bool {
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '.' {
			if !isAlnumHyphen(p[i]) {
				return false
			}
			continue
		}
		id := p[start:i]
		if id == "" {
			return false
		}
		if allDigits(id) && len(id) > 1 && id[0] == '0' {
			return false
		}
		start = i + 1
	}
	return true
}

func validMetadata(m string) bool {
	start := 0
	for i := 0; i <= len(m); i++ {
		if i < len(m) && m[i] != '.' {
			if !isAlnumHyphen(m[i]) {
				return false
			}
			continue
		}
		if i == start {
			return false
		}
		start = i + 1
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareVersions orders by precedence as semver.Version.Compare does.
func compareVersions(a, b *version) int {
	if c := cmpUint(a.major, b.major); c != 0 {
		return c
	}
	if c := cmpUint(a.minor, b.minor); c != 0 {
		return c
	}
	if c := cmpUint(a.patch, b.patch); c != 0 {
		return c
	}
	switch {
	case a.pre == "" && b.pre == "":
		return 0
	case a.pre == "":
		return 1
	case b.pre == "":
		return -1
	}
	return comparePrerelease(a.pre, b.pre)
}

// comparePrerelease compares dot-separated identifiers: numeric ones
// numerically and below alphanumeric ones, a shorter list below a longer one
// with the same prefix.
func comparePrerelease(a, b string) int {
	for {
		var pa, pb string
		pa, a = nextIdent(a)
		pb, b = nextIdent(b)
		if pa == "" && pb == "" {
			return 0
		}
		if c := comparePrePart(pa, pb); c != 0 {
			return c
		}
	}
}

func nextIdent(s string) (ident, rest string) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func comparePrePart(a, b string) int {
	if a == b {
		return 0
	}
	if a == "" {
		return -1
	}
	if b == "" {
		return 1
	}
	an, aok := parseUintASCII(a)
	bn, bok := parseUintASCII(b)
	switch {
	case !aok && !bok:
		if a > b {
			return 1
		}
		return -1
	case !aok:
		return 1
	case !bok:
		return -1
	}
	if an > bn {
		return 1
	}
	if an < bn {
		return -1
	}
	// Equal numbers written differently cannot happen for valid
	// identifiers (no leading zeros); keep the order total anyway.
	if a > b {
		return 1
	}
	return -1
}

// parseUintASCII is strconv.ParseUint(s, 10, 64) without allocating an
// error.
func parseUintASCII(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// CompareVersions compares two tags as semantic versions (a leading v and
// two-part versions allowed): -1, 0 or 1 by precedence, and ok false when
// either is not a version.
func CompareVersions(a, b string) (c int, ok bool) {
	va, oka := parseVersion(a)
	vb, okb := parseVersion(b)
	if !oka || !okb {
		return 0, false
	}
	return compareVersions(&va, &vb), true
}
