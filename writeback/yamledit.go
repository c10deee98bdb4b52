package writeback

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// locate finds the bytes of a scalar node: it starts from the node's line
// and column (where its anchor or tag starts, if it has one), skips those
// properties, and checks that the bytes found read as the node's value.
func locate(x *lineIndex, n *yaml.Node) (Span, Style, error) {
	data := x.data
	if n.Style&yaml.TaggedStyle != 0 && n.Tag != "!!str" {
		return Span{}, "", fmt.Errorf("%w: scalar tagged %s cannot hold a reference", ErrUnsupported, n.Tag)
	}
	off, ok := x.offset(n.Line, n.Column)
	if !ok {
		return Span{}, "", fmt.Errorf("%w: position %d:%d is not in the file", ErrUnsupported, n.Line, n.Column)
	}
	off = skipProperties(data, off)
	switch n.Style &^ (yaml.TaggedStyle | yaml.FlowStyle) {
	case 0:
		end := off + len(n.Value)
		if n.Value == "" || end > len(data) || string(data[off:end]) != n.Value {
			return Span{}, "", fmt.Errorf("%w: plain scalar %q spans lines or is empty", ErrUnsupported, n.Value)
		}
		return Span{off, end}, StylePlain, nil
	case yaml.DoubleQuotedStyle:
		end, raw, ok := scanQuoted(data, off, '"')
		if !ok {
			return Span{}, "", fmt.Errorf("%w: double-quoted scalar %q spans lines", ErrUnsupported, n.Value)
		}
		if strings.ContainsRune(raw, '\\') {
			var v string
			if err := yaml.Unmarshal(data[off:end], &v); err != nil || v != n.Value {
				return Span{}, "", fmt.Errorf("%w: cannot locate double-quoted scalar %q", ErrUnsupported, n.Value)
			}
		} else if raw != n.Value {
			return Span{}, "", fmt.Errorf("%w: cannot locate double-quoted scalar %q", ErrUnsupported, n.Value)
		}
		return Span{off, end}, StyleDouble, nil
	case yaml.SingleQuotedStyle:
		end, raw, ok := scanQuoted(data, off, '\'')
		if !ok || strings.ReplaceAll(raw, "''", "'") != n.Value {
			return Span{}, "", fmt.Errorf("%w: single-quoted scalar %q spans lines", ErrUnsupported, n.Value)
		}
		return Span{off, end}, StyleSingle, nil
	default:
		return Span{}, "", fmt.Errorf("%w: block scalar (| or >) cannot be edited in place", ErrUnsupported)
	}
}

// skipProperties skips a node's anchor (&a) and tag (!t, !!t, !<t>) and the
// blanks and line breaks after them.
func skipProperties(data []byte, off int) int {
	for off < len(data) && (data[off] == '&' || data[off] == '!') {
		if data[off] == '!' && off+1 < len(data) && data[off+1] == '<' {
			for off < len(data) && data[off] != '>' {
				off++
			}
			off++
		} else {
			for off < len(data) && !isBlankOrBreak(data, off) {
				off++
			}
		}
		for off < len(data) && isBlankOrBreak(data, off) {
			if n := breakLen(data, off); n > 0 {
				off += n
			} else {
				off++
			}
		}
	}
	return off
}

func isBlankOrBreak(data []byte, i int) bool {
	return data[i] == ' ' || data[i] == '\t' || breakLen(data, i) > 0
}

// scanQuoted finds the closing quote of a quoted scalar that starts at
// data[off] and stays on one line. It returns the end offset (after the
// closing quote) and the text between the quotes.
func scanQuoted(data []byte, off int, q byte) (int, string, bool) {
	if off >= len(data) || data[off] != q {
		return 0, "", false
	}
	for i := off + 1; i < len(data); i++ {
		if breakLen(data, i) > 0 {
			return 0, "", false
		}
		switch {
		case q == '"' && data[i] == '\\':
			i++
			if i < len(data) && breakLen(data, i) > 0 {
				return 0, "", false
			}
		case data[i] == q && q == '\'' && i+1 < len(data) && data[i+1] == '\'':
			i++
		case data[i] == q:
			return i + 1, string(data[off+1 : i]), true
		}
	}
	return 0, "", false
}

func (yamlFormat) encode(t Target, v string) (string, error) {
	if !utf8.ValidString(v) {
		return "", fmt.Errorf("%w: %q is not UTF-8", ErrInvalidReference, v)
	}
	switch t.Style {
	case StyleSingle:
		if printable(v) {
			return "'" + strings.ReplaceAll(v, "'", "''") + "'", nil
		}
		return doubleQuote(v), nil
	case StylePlain:
		if plainOK(v, t.Flow) {
			return v, nil
		}
		return doubleQuote(v), nil
	default:
		return doubleQuote(v), nil
	}
}

// printable reports whether v has only printable ASCII (what a single-quoted
// scalar can hold without surprises).
func printable(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] >= 0x7f {
			return false
		}
	}
	return true
}

// doubleQuote writes v as a double-quoted YAML scalar.
func doubleQuote(v string) string {
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 || r == 0xfeff:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// plainOK reports whether v can be written as a plain scalar and still read
// as the string v, both for YAML 1.2 (yaml.v3) and for the YAML 1.1 rules of
// the parsers Kubernetes and Helm use (yes/no/on/off are booleans there).
func plainOK(v string, flow bool) bool {
	if v == "" || !printable(v) || strings.ContainsAny(v[:1], "-?:,[]{}#&*!|>'\"%@` ") ||
		strings.HasSuffix(v, " ") || strings.HasSuffix(v, ":") ||
		strings.Contains(v, ": ") || strings.Contains(v, " #") {
		return false
	}
	if flow && strings.ContainsAny(v, ",[]{}") {
		return false
	}
	switch strings.ToLower(v) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~":
		return false
	}
	plain := strings.ReplaceAll(v, "_", "")
	if _, err := strconv.ParseFloat(plain, 64); err == nil {
		return false
	}
	if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
		return false
	}
	src := "k: " + v
	if flow {
		src = "{k: " + v + "}"
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil || len(doc.Content) != 1 {
		return false
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode || len(m.Content) != 2 {
		return false
	}
	sc := m.Content[1]
	return sc.Kind == yaml.ScalarNode && sc.Tag == "!!str" && sc.Value == v && sc.Style == 0
}

// verify parses both versions and compares them node by node: the same
// structure, comments, anchors, tags and values, except the scalars of the
// changes, which must now read as their new values (as strings).
func (yamlFormat) verify(old, edited []byte, changes []Change) error {
	od, err := parseYAML("", old)
	if err != nil {
		return fmt.Errorf("%w: original: %v", ErrVerify, err)
	}
	nd, err := parseYAML("", edited)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	if len(od) != len(nd) {
		return fmt.Errorf("%w: %s became %d", ErrVerify, count(len(od), "document", "documents"), len(nd))
	}
	want := make(map[int]string, len(changes))
	delta := 0
	for _, c := range changes {
		want[c.Span.Start+delta] = c.New
		delta += len(c.Text) - (c.Span.End - c.Span.Start)
	}
	x := newLineIndex(edited)
	matched := 0
	var walk func(a, b *yaml.Node) error
	walk = func(a, b *yaml.Node) error {
		if a.Kind != b.Kind || a.Anchor != b.Anchor || len(a.Content) != len(b.Content) ||
			a.HeadComment != b.HeadComment || a.LineComment != b.LineComment || a.FootComment != b.FootComment {
			return fmt.Errorf("%w: structure differs at line %d", ErrVerify, b.Line)
		}
		switch {
		case a.Kind == yaml.ScalarNode && (a.Value != b.Value || a.Tag != b.Tag || a.Style != b.Style):
			span, _, err := locate(x, b)
			if err != nil {
				return fmt.Errorf("%w: line %d: %v", ErrVerify, b.Line, err)
			}
			v, ok := want[span.Start]
			if !ok || v != b.Value || b.Tag != "!!str" {
				return fmt.Errorf("%w: unplanned change of %q to %q at line %d", ErrVerify, a.Value, b.Value, b.Line)
			}
			delete(want, span.Start)
			matched++
		case a.Kind == yaml.AliasNode && a.Value != b.Value:
			return fmt.Errorf("%w: alias differs at line %d", ErrVerify, b.Line)
		}
		for i := range a.Content {
			if err := walk(a.Content[i], b.Content[i]); err != nil {
				return err
			}
		}
		return nil
	}
	for i := range od {
		if err := walk(od[i], nd[i]); err != nil {
			return err
		}
	}
	if matched != len(changes) {
		return fmt.Errorf("%w: %d of %s read back", ErrVerify, matched, count(len(changes), "change", "changes"))
	}
	return nil
}

// count is "1 change" or "N changes".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
