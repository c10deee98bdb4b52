package policy

import "testing"

// TestCompilerSharesPatterns: policies compiled by one Compiler share the
// compiled regular expressions of equal patterns (memory at 10,000
// policies); Compile alone does not share.
func TestCompilerSharesPatterns(t *testing.T) {
	spec := Spec{Exclude: []string{`^.*\.sig$`}, Pattern: `^v(?P<v>.*)$`, Extract: "$v", Alphabetical: &OrderSpec{}}
	var c Compiler
	a, err := c.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	if a.exclude[0].re != b.exclude[0].re || a.pattern.re != b.pattern.re {
		t.Errorf("one Compiler compiled equal patterns twice")
	}
	if _, err := c.Compile(Spec{Exclude: []string{`(`}, Alphabetical: &OrderSpec{}}); err == nil {
		t.Errorf("an invalid pattern compiled")
	}
}
