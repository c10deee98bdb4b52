package policy

import (
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fluxValue is how Flux's image-reflector-controller reads a tag: one
// FindStringSubmatchIndex, then the template expanded on that match.
func fluxValue(re *regexp.Regexp, tmpl, tag string) (string, bool) {
	loc := re.FindStringSubmatchIndex(tag)
	if loc == nil {
		return "", false
	}
	if tmpl == "" {
		return tag, true
	}
	return string(re.ExpandString(nil, tmpl, tag, loc)), true
}

// TestExtractorShortcuts pins what the extractor learns from a pattern and
// a template; FuzzExtract checks the shortcuts give Flux's answers.
func TestExtractorShortcuts(t *testing.T) {
	type shortcuts struct {
		Prefix   string
		Anchored bool
		Single   bool
		Groups   []int
	}
	tests := map[string]struct {
		pattern, tmpl string
		want          shortcuts
	}{
		"anchored literal":       {`^main-[a-f0-9]+-(?P<ts>[0-9]+)`, "$ts", shortcuts{"main-", true, true, []int{1}}},
		"literal in a group":     {`^(?P<tag>123-[0-9]+)`, "${tag}", shortcuts{"123-", true, true, []int{1}}},
		"unanchored":             {`ver(\d+)`, "$1", shortcuts{"ver", false, true, []int{1}}},
		"case folded":            {`(?i)^main-(\d+)`, "$1", shortcuts{"", true, true, []int{1}}},
		"multi-line anchor":      {`(?m)^main-(\d+)`, "$1", shortcuts{"", false, true, []int{1}}},
		"alternation":            {`^(a|b)-(\d+)`, "$2", shortcuts{"", true, true, []int{2}}},
		"template with text":     {`^v(\d+)`, "v$1", shortcuts{"v", true, false, nil}},
		"two references":         {`^(\d+)_(\d+)`, "$1.$2", shortcuts{"", true, false, nil}},
		"escaped dollar":         {`^(\d+)`, "$$1", shortcuts{"", true, false, nil}},
		"unclosed brace":         {`^(\d+)`, "${1", shortcuts{"", true, false, nil}},
		"number past the groups": {`^(\d+)`, "$2", shortcuts{"", true, true, nil}},
		"leading zero is a name": {`^(\d+)`, "$01", shortcuts{"", true, true, nil}},
		"duplicate names":        {`^(?P<n>a)?(?P<n>b)?`, "$n", shortcuts{"", true, true, []int{1, 2}}},
		"no extract":             {`^v1\.`, "", shortcuts{"v1.", true, false, nil}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newExtractor(regexp.MustCompile(tc.pattern), tc.tmpl)
			got := shortcuts{e.prefix, e.anchored, e.single, e.groups}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzExtract checks that the extractor reads every tag as Flux does, its
// shortcuts (literal precheck, one-group slicing, reused buffer) included.
func FuzzExtract(f *testing.F) {
	f.Add(`^main-[a-f0-9]+-(?P<ts>[0-9]+)`, "$ts", "main-abc1234-1700000000-arm64", "main-x")
	f.Add(`^(?P<tag>123-[0-9]+\.[0-9]+\.[a-z0-9]+[^-debug])`, "${tag}", "123-123.123.abcd123-debug", "123-1.2.a")
	f.Add(`ver(\d+)`, "$1", "rel1-ver22-ver3", "ver")
	f.Add(`^(?P<maj>\d+)_(?P<min>\d+)`, "v${maj}.${min}$$", "1_22_3", "")
	f.Add(`(?P<n>a)?(?P<n>b)?`, "$n", "b", "ab")
	f.Add(`(?i)^Main-(\d+)`, "$01$1x${1}", "MAIN-7", "main-\xff")
	f.Add(`^\x{FFFD}(.)`, "$1", "\xffa", "\uFFFDb")
	f.Add(`^a`, "", "ab", "b")
	f.Fuzz(func(t *testing.T, pattern, tmpl, tag1, tag2 string) {
		if len(pattern) > 100 {
			return // long patterns only slow the search down
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		e := newExtractor(re, tmpl)
		var (
			buf        []byte
			wants, got []string
		)
		for _, tag := range []string{tag1, tag2, tag1} {
			want, wantOK := fluxValue(re, tmpl, tag)
			v, expanded, ok := e.find(tag, &buf)
			if expanded {
				v = string(buf)
			}
			if v != want || ok != wantOK {
				t.Fatalf("pattern %q extract %q tag %q: got %q, %v; Flux %q, %v", pattern, tmpl, tag, v, ok, want, wantOK)
			}
			wants, got = append(wants, want), append(got, v)
		}
		if diff := cmp.Diff(wants, got); diff != "" {
			t.Fatalf("values changed when the buffer was reused (-want +got):\n%s", diff)
		}
	})
}
