package writeback

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiff(t *testing.T) {
	tests := map[string]struct{ old, new, want string }{
		"equal": {old: "a\n", new: "a\n", want: ""},
		"one line in the middle": {
			old:  "1\n2\n3\n4\n5\n6\n7\n8\n9\n",
			new:  "1\n2\n3\n4\nfive\n6\n7\n8\n9\n",
			want: "--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n",
		},
		"two hunks": {
			old:  "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n",
			new:  "one\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\ntwelve\n",
			want: "--- a/f\n+++ b/f\n@@ -1,4 +1,4 @@\n-1\n+one\n 2\n 3\n 4\n@@ -9,4 +9,4 @@\n 9\n 10\n 11\n-12\n+twelve\n",
		},
		"close changes share a hunk": {
			old:  "1\n2\n3\n4\n5\n6\n7\n8\n",
			new:  "1\nB\n3\n4\n5\n6\nG\n8\n",
			want: "--- a/f\n+++ b/f\n@@ -1,8 +1,8 @@\n 1\n-2\n+B\n 3\n 4\n 5\n 6\n-7\n+G\n 8\n",
		},
		"no final newline": {
			old:  "a\nb",
			new:  "a\nc",
			want: "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n",
		},
		"crlf kept": {
			old:  "a\r\nb\r\n",
			new:  "a\r\nc\r\n",
			want: "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\r\n-b\r\n+c\r\n",
		},
		"insert into empty": {
			old:  "",
			new:  "a\n",
			want: "--- a/f\n+++ b/f\n@@ -0,0 +1 @@\n+a\n",
		},
		"delete all": {
			old:  "a\nb\n",
			new:  "",
			want: "--- a/f\n+++ b/f\n@@ -1,2 +0,0 @@\n-a\n-b\n",
		},
		"pure insertion after context": {
			old:  "1\n2\n3\n4\n5\n",
			new:  "1\n2\n3\n4\n5\n6\n",
			want: "--- a/f\n+++ b/f\n@@ -3,3 +3,4 @@\n 3\n 4\n 5\n+6\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Diff("f", []byte(tc.old), []byte(tc.new))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestDiffApplies checks on random edits that the hunks of Diff, applied to
// the old text, give the new one, and that their context matches.
func TestDiffApplies(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		var old []string
		for range r.IntN(40) {
			old = append(old, strconv.Itoa(r.IntN(8))+"\n")
		}
		nw := append([]string(nil), old...)
		for range r.IntN(6) {
			switch p := r.IntN(len(nw) + 1); r.IntN(3) {
			case 0:
				nw = append(nw[:p], append([]string{"new" + strconv.Itoa(r.IntN(5)) + "\n"}, nw[p:]...)...)
			case 1:
				if p < len(nw) {
					nw = append(nw[:p], nw[p+1:]...)
				}
			case 2:
				if p < len(nw) {
					nw[p] = "changed\n"
				}
			}
		}
		o, n := strings.Join(old, ""), strings.Join(nw, "")
		d := Diff("f", []byte(o), []byte(n))
		got, err := applyUnified(o, d)
		if err != nil {
			t.Fatalf("case %d: %v\n%s", i, err, d)
		}
		if got != n {
			t.Fatalf("case %d: patched text differs\nold %q\nnew %q\ngot %q\n%s", i, o, n, got, d)
		}
	}
}

// applyUnified applies a unified diff of whole lines (each ending in \n).
func applyUnified(old, diff string) (string, error) {
	if diff == "" {
		return old, nil
	}
	a := splitLines([]byte(old))
	lines := strings.SplitAfter(diff, "\n")
	var out []string
	ai := 0
	for i := 2; i < len(lines) && lines[i] != ""; {
		var as, al, bs, bl int
		h := lines[i]
		if _, err := fmt.Sscanf(h, "@@ -%d,%d +%d,%d @@", &as, &al, &bs, &bl); err != nil {
			// ranges of one line omit the count
			al, bl = 1, 1
			if _, err := fmt.Sscanf(h, "@@ -%d +%d,%d @@", &as, &bs, &bl); err != nil {
				if _, err := fmt.Sscanf(h, "@@ -%d,%d +%d @@", &as, &al, &bs); err != nil {
					if _, err := fmt.Sscanf(h, "@@ -%d +%d @@", &as, &bs); err != nil {
						return "", fmt.Errorf("bad hunk header %q", h)
					}
				}
			}
		}
		start := as - 1
		if al == 0 {
			start = as
		}
		for ai < start {
			out = append(out, a[ai])
			ai++
		}
		i++
		for i < len(lines) && lines[i] != "" && !strings.HasPrefix(lines[i], "@@") {
			l := lines[i]
			switch l[0] {
			case ' ', '-':
				if ai >= len(a) || a[ai] != l[1:] {
					return "", fmt.Errorf("context %q does not match line %d", l, ai+1)
				}
				if l[0] == ' ' {
					out = append(out, a[ai])
				}
				ai++
			case '+':
				out = append(out, l[1:])
			}
			i++
		}
	}
	out = append(out, a[ai:]...)
	return strings.Join(out, ""), nil
}
