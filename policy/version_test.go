package policy

import (
	"testing"

	"github.com/Masterminds/semver/v3"
)

func TestParseVersionAgreesWithMasterminds(t *testing.T) {
	for _, s := range []string{
		"1", "1.2", "1.2.3", "v1.2.3", "V1.2.3", "01.2.3", "1.2.3-rc.1", "1.2.3-rc.01", "1.2.3+b.1",
		"1.2.3-alpine", "1.2.3-", "1.2.3+", "1..2", "1.2.3.4", "v", "", "2024.01.15", "sha-abc123",
		"1.2.3-a..b", "18446744073709551616", "18446744073709551615", "1.2-rc1", "latest",
	} {
		t.Run(s, func(t *testing.T) {
			_, ok := parseVersion(s)
			_, err := semver.NewVersion(s)
			if ok != (err == nil) {
				t.Errorf("parseVersion(%q) ok=%v, semver.NewVersion err=%v", s, ok, err)
			}
		})
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"1.2.3", "v1.2", "1.2.3-rc.1+meta", "01.0.0", "1.0.0-0.a", "x"} {
		f.Add(s, "1.2.3-alpha")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, ok := parseVersion(a)
		sa, err := semver.NewVersion(a)
		if ok != (err == nil) {
			t.Fatalf("parseVersion(%q) ok=%v, NewVersion err=%v", a, ok, err)
		}
		if !ok {
			return
		}
		if va.major != sa.Major() || va.minor != sa.Minor() || va.patch != sa.Patch() || va.pre != sa.Prerelease() {
			t.Fatalf("parseVersion(%q) = %+v, NewVersion = %v", a, va, sa)
		}
		if strictVersion(a) != (func() bool {
			s := a
			if len(s) > 0 && s[0] == 'v' {
				s = s[1:]
			}
			_, err := semver.StrictNewVersion(s)
			return err == nil
		}()) {
			t.Fatalf("strictVersion(%q) disagrees with StrictNewVersion", a)
		}
		vb, ok := parseVersion(b)
		sb, err := semver.NewVersion(b)
		if !ok || err != nil {
			return
		}
		if got, want := compareVersions(&va, &vb), sa.Compare(sb); got != want {
			t.Fatalf("compare(%q, %q) = %d, Masterminds %d", a, b, got, want)
		}
	})
}

func FuzzSemverRange(f *testing.F) {
	for _, r := range []string{">=1.0.0 <2.0.0", "~1.2", "^0.2.3", "1.x", "!=1.2.3", "1.2 - 1.4.5", ">1.2.x", "<=1.x", ">= 1.0, < 2.0 || 3.x", "*", "^0.0.3", "~0", ">=1.0.0-0", "=1.2.3-rc.1", "!=1.2.x-beta"} {
		f.Add(r, "1.2.3")
		f.Add(r, "1.3.0-rc.1")
	}
	f.Fuzz(func(t *testing.T, r, v string) {
		c, err := semver.NewConstraint(r)
		if err != nil {
			return
		}
		sv, err := semver.NewVersion(v)
		if err != nil {
			return
		}
		rng, ok := compileRange(r)
		if !ok {
			return // left to Masterminds
		}
		pv, _ := parseVersion(v)
		if got, want := rng.check(&pv), c.Check(sv); got != want {
			t.Fatalf("range %q on %q: hoist %v, Masterminds %v", r, v, got, want)
		}
	})
}

// TestSemverRangeAgreesWithMasterminds compares hoist's range evaluator with
// Masterminds' Check over every pair of a grid of ranges and versions.
func TestSemverRangeAgreesWithMasterminds(t *testing.T) {
	var ranges []string
	ops := []string{"", "=", "!=", ">", "<", ">=", "<=", "~", "~>", "^", "=>", "=<"}
	cons := []string{"0", "1", "0.0", "0.2", "1.2", "1.x", "1.2.x", "*", "x", "0.0.3", "0.2.3", "1.2.3", "1.2.3-rc.1", "1.2.x-beta", "2.0.0-0", "v1.2"}
	for _, op := range ops {
		for _, c := range cons {
			ranges = append(ranges, op+c, op+" "+c)
		}
	}
	ranges = append(ranges, ">=1.0.0 <2.0.0", ">=1.0.0, <2.0.0", "1.2 - 1.4.5", "1.2.3-rc.1 - 2", ">1 <3 || ^0.2", "~1.2 || >=3.0.0-0", "!=1.2.3 >=1")
	versions := []string{"0.0.0", "0.0.3", "0.0.4", "0.2.3", "0.2.9", "0.3.0", "1.0.0", "1.1.9", "1.2.0", "1.2.2", "1.2.3", "1.2.3-rc.1", "1.2.3-rc.2", "1.2.3-beta", "1.2.4", "1.2.4-alpha",
		"1.3.0", "1.4.5", "1.4.6", "2.0.0", "2.0.0-rc.1", "2.1.0", "3.0.0", "3.0.0-beta.1", "10.0.0", "v1.2", "1.2"}
	checked := 0
	for _, r := range ranges {
		c, err := semver.NewConstraint(r)
		if err != nil {
			continue
		}
		rng, ok := compileRange(r)
		if !ok {
			t.Errorf("compileRange(%q) refused a range Masterminds accepts", r)
			continue
		}
		for _, v := range versions {
			sv := semver.MustParse(v)
			pv, _ := parseVersion(v)
			if got, want := rng.check(&pv), c.Check(sv); got != want {
				t.Errorf("range %q on %q: hoist %v, Masterminds %v", r, v, got, want)
			}
			checked++
		}
	}
	if checked < 5000 {
		t.Fatalf("only %d pairs checked", checked)
	}
}

func TestLiteralSuffix(t *testing.T) {
	tests := map[string]struct {
		suffix string
		ok     bool
	}{
		`^.*\.sig$`:  {".sig", true},
		`^.*\.sbom$`: {".sbom", true},
		`^.*sig$`:    {"sig", true},
		`.*\.sig$`:   {"", false},
		`^.*\.sig`:   {"", false},
		`^.+\.sig$`:  {"", false},
		`(?i)^.*x$`:  {"", false},
		`^.*[ab]$`:   {"", false},
		`^latest$`:   {"", false},
	}
	for pattern, tc := range tests {
		t.Run(pattern, func(t *testing.T) {
			s, ok := literalSuffix(pattern)
			if s != tc.suffix || ok != tc.ok {
				t.Errorf("literalSuffix(%q) = %q, %v; want %q, %v", pattern, s, ok, tc.suffix, tc.ok)
			}
		})
	}
}
