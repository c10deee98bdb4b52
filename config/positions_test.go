package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/config"
)

// TestErrorPositions checks that every error names the line a person would
// point at: the line with the tab, the unclosed bracket or quote, the stray
// key, the unknown field, the bad value, also past the first document of a
// file and with a byte order mark or CRLF line endings. Each input is a
// file of testdata/positions.
func TestErrorPositions(t *testing.T) {
	tests := map[string][]string{
		"tab.yaml":              {"4: parsing YAML: found character that cannot start any token"},
		"tab-after-scalar.yaml": {"7: parsing YAML: found a tab character that violates indentation"},
		"crlf.yaml":             {"4: parsing YAML: found character that cannot start any token"},
		"unclosed-flow.yaml":    {"3: parsing YAML: did not find expected ',' or '}'"},
		"unclosed-quote.yaml":   {"10: parsing YAML: found unexpected end of stream"},
		"over-indented.yaml":    {"7: parsing YAML: mapping values are not allowed in this context"},
		"under-indented.yaml":   {"7: parsing YAML: did not find expected key"},
		"stray-item.yaml":       {"5: parsing YAML: did not find expected key"},
		"unknown-anchor.yaml":   {"6: parsing YAML: unknown anchor 'image' referenced"},
		"bom.yaml":              {`7: spec.color: unknown field "color"`},
		"bad-values.yaml": {
			`7: spec.suspend: want true or false, got "maybe"`,
			"10: spec.exclusionList[1]: compiling \"(\": error parsing regexp: missing closing ): `(`",
		},
		"multi-document.yaml": {
			`9: spec.intervall: unknown field "intervall"; did you mean "interval"?`,
			`17: spec.interval: parsing duration "5 minutes": want a number and a unit, such as 90s, 5m or 1h30m`,
			"28: parsing YAML: found character that cannot start any token",
		},
	}
	files, err := filepath.Glob("testdata/positions/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if _, ok := tests[filepath.Base(file)]; !ok {
			t.Errorf("%s has no test case", file)
		}
	}
	for name, want := range tests {
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			file := filepath.ToSlash(filepath.Join("testdata", "positions", name))
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				want[i] = file + ":" + want[i]
			}
			_, err = config.Parse(file, data)
			if diff := cmp.Diff(want, errorLines(t, err)); diff != "" {
				t.Errorf("Parse(%s) errors (-want +got):\n%s", file, diff)
			}
			// Load reads the file the same way.
			_, err = config.Load(file)
			if diff := cmp.Diff(want, errorLines(t, err)); diff != "" {
				t.Errorf("Load(%s) errors (-want +got):\n%s", file, diff)
			}
		})
	}
}

// TestErrorPositionsLargeDocument: in a long document the line is still the
// right one, and found quickly (the search parses prefixes of the document).
func TestErrorPositionsLargeDocument(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: hoist.dev/v1alpha1\nkind: ImageRepository\nmetadata: {name: big}\nspec:\n  image: ghcr.io/example/big\n  exclusionList:\n")
	for i := range 20000 {
		fmt.Fprintf(&b, "  - '^x%d$'\n", i)
	}
	head := b.String()
	tests := map[string]struct {
		tail string
		want string
	}{
		"unknown anchor": {"  - *nope\n", "big.yaml:20007: parsing YAML: unknown anchor 'nope' referenced"},
		"tab":            {"\tsuspend: true\n", "big.yaml:20007: parsing YAML: found character that cannot start any token"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := config.Parse("big.yaml", []byte(head+tc.tail))
			if err == nil || err.Error() != tc.want {
				t.Errorf("Parse = %v, want %s", err, tc.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Parse took %v", d)
			}
		})
	}
}
