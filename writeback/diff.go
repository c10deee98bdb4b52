package writeback

import (
	"bytes"
	"fmt"
	"strings"
)

// diffContext is the number of unchanged lines around a change in a hunk.
const diffContext = 3

// diffMaxEdits bounds the work of the line diff; a larger difference is
// shown as one replacement of the differing middle.
const diffMaxEdits = 4096

// Diff returns a unified diff (as `diff -u` and `git diff` print it, with
// a/ and b/ prefixes) of a file's old and new bytes, or "" when they are
// equal. Lines keep their line endings (a CR of a CRLF file stays in the
// line); a last line without a newline is marked as diff marks it.
func Diff(path string, old, new []byte) string {
	if bytes.Equal(old, new) {
		return ""
	}
	a, b := splitLines(old), splitLines(new)
	ops := diffLines(a, b)
	var out strings.Builder
	fmt.Fprintf(&out, "--- a/%s\n+++ b/%s\n", path, path)
	for _, h := range hunks(ops) {
		writeHunk(&out, h, a, b)
	}
	return out.String()
}

// splitLines splits data after each '\n'.
func splitLines(data []byte) []string {
	var lines []string
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			lines = append(lines, string(data))
			break
		}
		lines = append(lines, string(data[:i+1]))
		data = data[i+1:]
	}
	return lines
}

// opKind is an edit: keep a line of both, delete a line of a, insert one of b.
type opKind byte

const (
	opKeep opKind = ' '
	opDel  opKind = '-'
	opIns  opKind = '+'
)

// op is one line of the edit script; ai and bi index a and b (ai for keep
// and delete, bi for keep and insert).
type op struct {
	kind   opKind
	ai, bi int
}

// diffLines returns an edit script turning a into b: the common prefix and
// suffix, and Myers' shortest edit script of the middle.
func diffLines(a, b []string) []op {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var ops []op
	for i := 0; i < pre; i++ {
		ops = append(ops, op{opKeep, i, i})
	}
	for _, o := range myers(a[pre:len(a)-suf], b[pre:len(b)-suf]) {
		o.ai += pre
		o.bi += pre
		ops = append(ops, o)
	}
	for i := 0; i < suf; i++ {
		ops = append(ops, op{opKeep, len(a) - suf + i, len(b) - suf + i})
	}
	return ops
}

// myers is the O((N+M)D) greedy algorithm of Myers (1986), "An O(ND)
// Difference Algorithm and Its Variations", keeping each round's frontier to
// trace the path back.
func myers(a, b []string) []op {
	n, m := len(a), len(b)
	maxD := n + m
	if maxD > diffMaxEdits {
		return replaceAll(n, m)
	}
	off := maxD + 1
	v := make([]int, 2*maxD+3)
	var trace [][]int
	for d := 0; d <= maxD; d++ {
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1] // down: an insertion
			} else {
				x = v[off+k-1] + 1 // right: a deletion
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x++
				y++
			}
			v[off+k] = x
			if x >= n && y >= m {
				trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
				return backtrack(trace, n, m)
			}
		}
		trace = append(trace, append([]int(nil), v[off-d:off+d+1]...))
	}
	return replaceAll(n, m)
}

// backtrack walks the saved frontiers from (n, m) back to (0, 0).
func backtrack(trace [][]int, n, m int) []op {
	var rev []op
	x, y := n, m
	for d := len(trace) - 1; d > 0; d-- {
		prev := trace[d-1] // indexed by k+(d-1)
		at := func(k int) int { return prev[k+d-1] }
		k := x - y
		var pk int
		if k == -d || (k != d && at(k-1) < at(k+1)) {
			pk = k + 1
		} else {
			pk = k - 1
		}
		px := at(pk)
		py := px - pk
		for x > px && y > py {
			x--
			y--
			rev = append(rev, op{opKeep, x, y})
		}
		if pk == k+1 {
			y--
			rev = append(rev, op{opIns, x, y})
		} else {
			x--
			rev = append(rev, op{opDel, x, y})
		}
	}
	for x > 0 && y > 0 {
		x--
		y--
		rev = append(rev, op{opKeep, x, y})
	}
	ops := make([]op, len(rev))
	for i, o := range rev {
		ops[len(rev)-1-i] = o
	}
	return ops
}

// replaceAll deletes all of a and inserts all of b.
func replaceAll(n, m int) []op {
	ops := make([]op, 0, n+m)
	for i := 0; i < n; i++ {
		ops = append(ops, op{opDel, i, 0})
	}
	for j := 0; j < m; j++ {
		ops = append(ops, op{opIns, n, j})
	}
	return ops
}

// hunks groups the edit script into hunks with diffContext lines around
// each change, merging hunks whose context touches.
func hunks(ops []op) [][]op {
	var out [][]op
	i := 0
	for i < len(ops) {
		for i < len(ops) && ops[i].kind == opKeep {
			i++
		}
		if i == len(ops) {
			break
		}
		start := max(0, i-diffContext)
		end := i
		for end < len(ops) {
			if ops[end].kind != opKeep {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == opKeep {
				run++
			}
			if run == len(ops) || run-end > 2*diffContext {
				end = min(run, end+diffContext)
				break
			}
			end = run
		}
		out = append(out, ops[start:end])
		i = end
	}
	return out
}

func writeHunk(out *strings.Builder, h []op, a, b []string) {
	aStart, bStart, aLen, bLen := -1, -1, 0, 0
	for _, o := range h {
		if o.kind != opIns {
			if aStart < 0 {
				aStart = o.ai
			}
			aLen++
		}
		if o.kind != opDel {
			if bStart < 0 {
				bStart = o.bi
			}
			bLen++
		}
	}
	if aStart < 0 {
		aStart = h[0].ai
	}
	if bStart < 0 {
		bStart = h[0].bi
	}
	fmt.Fprintf(out, "@@ -%s +%s @@\n", hunkRange(aStart, aLen), hunkRange(bStart, bLen))
	for _, o := range h {
		line := ""
		switch o.kind {
		case opIns:
			line = b[o.bi]
		default:
			line = a[o.ai]
		}
		out.WriteByte(byte(o.kind))
		out.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			out.WriteString("\n\\ No newline at end of file\n")
		}
	}
}

// hunkRange formats a hunk's range as diff does: 1-based start, the count
// omitted when it is 1, and the line before for an empty range.
func hunkRange(start, n int) string {
	switch n {
	case 0:
		return fmt.Sprintf("%d,0", start)
	case 1:
		return fmt.Sprintf("%d", start+1)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}
