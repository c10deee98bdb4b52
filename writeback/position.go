package writeback

import (
	"sort"
	"unicode/utf8"
)

// utf8BOM is the byte-order mark some editors put at the start of a file.
const utf8BOM = "\xef\xbb\xbf"

// lineIndex maps the parser's (line, column) positions to byte offsets and
// back. It counts line breaks the way the YAML parser (libyaml's rules) does:
// CR LF, CR, LF, NEL (U+0085), LS (U+2028) and PS (U+2029) each end a line,
// and columns count runes. A byte-order mark at the start of the stream is
// not counted.
type lineIndex struct {
	data   []byte
	starts []int // starts[i] is the byte offset of line i+1
}

func newLineIndex(data []byte) *lineIndex {
	first := 0
	if len(data) >= 3 && string(data[:3]) == utf8BOM {
		first = 3
	}
	starts := make([]int, 1, 64)
	starts[0] = first
	for i := first; i < len(data); {
		if n := breakLen(data, i); n > 0 {
			i += n
			starts = append(starts, i)
			continue
		}
		i++
	}
	return &lineIndex{data: data, starts: starts}
}

// breakLen returns the length of the line break at data[i], or 0.
func breakLen(data []byte, i int) int {
	switch data[i] {
	case '\n':
		return 1
	case '\r':
		if i+1 < len(data) && data[i+1] == '\n' {
			return 2
		}
		return 1
	case 0xc2:
		if i+1 < len(data) && data[i+1] == 0x85 {
			return 2
		}
	case 0xe2:
		if i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xa8 || data[i+2] == 0xa9) {
			return 3
		}
	}
	return 0
}

// offset returns the byte offset of the 1-based line and column.
func (x *lineIndex) offset(line, col int) (int, bool) {
	if line < 1 || line > len(x.starts) || col < 1 {
		return 0, false
	}
	off := x.starts[line-1]
	for c := 1; c < col; c++ {
		if off >= len(x.data) || breakLen(x.data, off) > 0 {
			return 0, false
		}
		_, n := utf8.DecodeRune(x.data[off:])
		off += n
	}
	return off, true
}

// position returns the 1-based line and column (in runes) of a byte offset.
func (x *lineIndex) position(off int) (line, col int) {
	i := sort.Search(len(x.starts), func(i int) bool { return x.starts[i] > off }) - 1
	if i < 0 {
		i = 0
	}
	start := x.starts[i]
	if off < start {
		off = start
	}
	return i + 1, utf8.RuneCount(x.data[start:off]) + 1
}
