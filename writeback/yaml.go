package writeback

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const yamlFormatName = "yaml"

// The annotation keys of SPEC.md section 3.
const (
	annHoistPolicy   = "hoist.dev/policy"
	annFluxTag       = "fluxcd.io/tag."
	annFluxAutomated = "fluxcd.io/automated"
	annKeelPolicy    = "keel.sh/policy"
)

// yamlFormat reads YAML files with kyaml's parser (yaml.v3 nodes, which
// carry line and column) and edits them at byte offsets derived from those.
type yamlFormat struct{}

func (yamlFormat) name() string { return yamlFormatName }

func (yamlFormat) screen(data []byte) bool {
	if isUTF16(data) {
		// Let targets refuse it, if it would hold a target.
		return screenText(decodeUTF16(data))
	}
	return screenText(data)
}

// screenText reports whether data holds the marker key or one of the
// annotation keys. It runs on every file of a tree, so it looks for rare
// bytes with IndexByte (vectorised) instead of running one substring search
// per key over common letters: '$' for the marker, '/' for the keys, which
// are checked around each slash.
func screenText(data []byte) bool {
	if bytes.IndexByte(data, '$') >= 0 && bytes.Contains(data, []byte(markerKey)) {
		return true
	}
	for i := 0; i < len(data); {
		j := bytes.IndexByte(data[i:], '/')
		if j < 0 {
			return false
		}
		k := i + j
		pre, post := data[:k], data[k+1:]
		switch {
		case bytes.HasPrefix(post, []byte("policy")) &&
			(bytes.HasSuffix(pre, []byte("hoist.dev")) || bytes.HasSuffix(pre, []byte("keel.sh"))),
			bytes.HasPrefix(post, []byte("tag.")) && bytes.HasSuffix(pre, []byte("fluxcd.io")):
			return true
		}
		i = k + 1
	}
	return false
}

// isUTF16 reports whether data starts with a UTF-16 byte-order mark.
func isUTF16(data []byte) bool {
	return bytes.HasPrefix(data, []byte{0xfe, 0xff}) || bytes.HasPrefix(data, []byte{0xff, 0xfe})
}

// decodeUTF16 decodes UTF-16 with a byte-order mark to UTF-8.
func decodeUTF16(data []byte) []byte {
	be := data[0] == 0xfe
	u := make([]uint16, 0, len(data)/2)
	for i := 2; i+1 < len(data); i += 2 {
		if be {
			u = append(u, uint16(data[i])<<8|uint16(data[i+1]))
		} else {
			u = append(u, uint16(data[i+1])<<8|uint16(data[i]))
		}
	}
	return []byte(string(utf16.Decode(u)))
}

// parseYAML decodes every document of data. A failure is a *FileError that
// wraps ErrParse (or ErrUnsupported for an encoding other than UTF-8).
func parseYAML(path string, data []byte) (docs []*yaml.Node, err error) {
	if isUTF16(data) {
		return nil, &FileError{File: path, Err: fmt.Errorf("%w: UTF-16 encoding", ErrUnsupported)}
	}
	defer func() {
		// The parser is not ours; a panic on hostile input must refuse
		// one file, not end the run.
		if r := recover(); r != nil {
			docs, err = nil, &FileError{File: path, Err: fmt.Errorf("%w: parser panic: %v", ErrParse, r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		n := new(yaml.Node)
		err := dec.Decode(n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			line, msg := splitYAMLError(err.Error())
			return nil, &FileError{File: path, Line: line, Err: fmt.Errorf("%w: %s", ErrParse, msg)}
		}
		docs = append(docs, n)
	}
}

// splitYAMLError takes the line out of "yaml: line 3: did not find ...".
func splitYAMLError(msg string) (int, string) {
	rest, ok := strings.CutPrefix(msg, "yaml: line ")
	if !ok {
		return 0, msg
	}
	num, text, ok := strings.Cut(rest, ": ")
	if !ok {
		return 0, msg
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, msg
	}
	return n, text
}

func (yamlFormat) targets(path string, data []byte) ([]Target, error) {
	docs, err := parseYAML(path, data)
	if err != nil {
		return nil, err
	}
	s := &yamlScan{path: path, data: data, lines: newLineIndex(data)}
	for _, d := range docs {
		s.document(d)
		if s.err != nil {
			return nil, s.err
		}
	}
	if len(s.out) > 0 {
		sum := sha256.Sum256(data)
		hexSum := hex.EncodeToString(sum[:])
		for i := range s.out {
			s.out[i].Sum = hexSum
		}
	}
	return s.out, nil
}

// yamlScan holds the state of finding the targets of one file.
type yamlScan struct {
	path  string
	data  []byte
	lines *lineIndex
	out   []Target
	err   error
	// stack is the path of the current node in its object.
	stack []string
	// flow records, for scalars with an anchor, whether they are inside a
	// flow collection, for targets reached through an alias.
	flow map[*yaml.Node]bool
}

func (s *yamlScan) fail(line int, field string, err error) {
	if s.err == nil {
		s.err = &FileError{File: s.path, Line: line, Field: field, Err: err}
	}
}

func (s *yamlScan) document(d *yaml.Node) {
	root := d
	if d.Kind == yaml.DocumentNode {
		if len(d.Content) == 0 {
			return
		}
		root = d.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		s.stack = s.stack[:0]
		s.node(root, Object{}, false)
		return
	}
	s.stack = s.stack[:0]
	s.object(root, objectOf(root), false)
}

// object visits an object (a document's root mapping or an item of a List):
// markers anywhere in it, then the containers of an annotated workload. flow
// says whether m is inside a flow collection.
func (s *yamlScan) object(m *yaml.Node, obj Object, flow bool) {
	flow = flow || m.Style&yaml.FlowStyle != 0
	if strings.HasSuffix(obj.Kind, "List") {
		if items := mapGet(m, "items"); items != nil && items.Kind == yaml.SequenceNode {
			for i := 0; i+1 < len(m.Content); i += 2 {
				k, v := m.Content[i], m.Content[i+1]
				if k.Value != "items" || v != items {
					s.push(k.Value)
					s.node(v, obj, flow)
					s.pop()
					continue
				}
				saved := s.stack
				for _, it := range items.Content {
					if it.Kind != yaml.MappingNode {
						continue
					}
					s.stack = nil
					s.object(it, objectOf(it), flow || items.Style&yaml.FlowStyle != 0)
				}
				s.stack = saved
			}
			return
		}
	}
	s.node(m, obj, flow)
	s.workload(m, obj, flow)
}

func (s *yamlScan) push(e string) { s.stack = append(s.stack, e) }
func (s *yamlScan) pop()          { s.stack = s.stack[:len(s.stack)-1] }

// field joins the stack into a path such as spec.containers[name=app].image.
func (s *yamlScan) field() string { return joinField(s.stack) }

func joinField(elems []string) string {
	var b strings.Builder
	for i, e := range elems {
		if i > 0 && !strings.HasPrefix(e, "[") {
			b.WriteByte('.')
		}
		b.WriteString(e)
	}
	return b.String()
}

// node visits n; flow says whether n's parent is a flow collection.
func (s *yamlScan) node(n *yaml.Node, obj Object, flow bool) {
	switch n.Kind {
	case yaml.MappingNode:
		flow = flow || n.Style&yaml.FlowStyle != 0
		for i := 0; i+1 < len(n.Content); i += 2 {
			s.push(n.Content[i].Value)
			s.node(n.Content[i+1], obj, flow)
			s.pop()
		}
	case yaml.SequenceNode:
		flow = flow || n.Style&yaml.FlowStyle != 0
		for i, e := range n.Content {
			s.push(seqElem(e, i))
			s.node(e, obj, flow)
			s.pop()
		}
	case yaml.ScalarNode:
		if n.Anchor != "" {
			if s.flow == nil {
				s.flow = make(map[*yaml.Node]bool)
			}
			s.flow[n] = flow
		}
		s.leaf(n, obj, flow)
	case yaml.AliasNode:
		s.leaf(n, obj, flow)
	}
}

// seqElem names a sequence element: [name=NAME] when it is a mapping with a
// name, else its index.
func seqElem(e *yaml.Node, i int) string {
	if e.Kind == yaml.MappingNode {
		if n := mapGet(e, "name"); n != nil && n.Kind == yaml.ScalarNode && n.Value != "" {
			return "[name=" + n.Value + "]"
		}
	}
	return "[" + strconv.Itoa(i) + "]"
}

// leaf makes a marker target of a scalar (or an alias of one) whose line
// comment is a marker. As in Flux, mapping keys and collections are not
// targets.
func (s *yamlScan) leaf(n *yaml.Node, obj Object, flow bool) {
	marker, ok := parseMarker(n.LineComment)
	if !ok {
		return
	}
	sc := n
	if n.Kind == yaml.AliasNode {
		// An aliased value is edited at its anchor.
		sc = n.Alias
		if sc == nil || sc.Kind != yaml.ScalarNode {
			return
		}
		f, known := s.flow[sc]
		flow = f || !known
	}
	t, err := s.target(sc, obj, s.field(), flow)
	if err != nil {
		s.fail(n.Line, s.field(), err)
		return
	}
	t.Policy, t.Part = splitMarker(marker)
	t.Marker = marker
	s.out = append(s.out, t)
}

// target locates the scalar sc in the file's bytes.
func (s *yamlScan) target(sc *yaml.Node, obj Object, field string, flow bool) (Target, error) {
	span, style, err := locate(s.lines, sc)
	if err != nil {
		return Target{}, err
	}
	line, col := s.lines.position(span.Start)
	return Target{
		File:   s.path,
		Format: yamlFormatName,
		Line:   line,
		Column: col,
		Span:   span,
		Style:  style,
		Flow:   flow,
		Value:  sc.Value,
		Object: obj,
		Field:  field,
	}, nil
}

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

// objectOf reads apiVersion, kind, metadata.namespace and metadata.name.
func objectOf(m *yaml.Node) Object {
	o := Object{APIVersion: scalarValue(mapGet(m, "apiVersion")), Kind: scalarValue(mapGet(m, "kind"))}
	if o.APIVersion == "" || o.Kind == "" {
		return Object{}
	}
	meta := mapGet(m, "metadata")
	o.Namespace = scalarValue(mapGet(meta, "namespace"))
	o.Name = scalarValue(mapGet(meta, "name"))
	return o
}

// mapGet returns the value of key in mapping m, following aliases and
// YAML merge keys (<<); nil when m is not a mapping or has no such key.
func mapGet(m *yaml.Node, key string) *yaml.Node {
	return mapGetDepth(m, key, 0)
}

func mapGetDepth(m *yaml.Node, key string, depth int) *yaml.Node {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode || depth > 8 {
		return nil
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Value == key && k.Kind == yaml.ScalarNode {
			return m.Content[i+1]
		}
		if k.Value == "<<" && k.Tag == "!!merge" {
			merges = append(merges, m.Content[i+1])
		}
	}
	for _, mv := range merges {
		mv = deref(mv)
		if mv != nil && mv.Kind == yaml.SequenceNode {
			for _, e := range mv.Content {
				if v := mapGetDepth(e, key, depth+1); v != nil {
					return v
				}
			}
			continue
		}
		if v := mapGetDepth(mv, key, depth+1); v != nil {
			return v
		}
	}
	return nil
}

// deref follows an alias to its anchor.
func deref(n *yaml.Node) *yaml.Node {
	if n != nil && n.Kind == yaml.AliasNode {
		return n.Alias
	}
	return n
}

// scalarValue returns the value of a scalar node (through an alias), or "".
func scalarValue(n *yaml.Node) string {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// podSpecPath returns where a workload kind keeps its pod spec.
func podSpecPath(kind string) []string {
	switch kind {
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		return []string{"spec", "template", "spec"}
	case "CronJob":
		return []string{"spec", "jobTemplate", "spec", "template", "spec"}
	case "Pod":
		return []string{"spec"}
	}
	return nil
}

// workload makes targets of the containers of an annotated workload.
func (s *yamlScan) workload(m *yaml.Node, obj Object, flow bool) {
	path := podSpecPath(obj.Kind)
	if path == nil {
		return
	}
	meta := mapGet(m, "metadata")
	ann, labels := mapGet(meta, "annotations"), mapGet(meta, "labels")
	if ann == nil && labels == nil {
		return
	}
	spec := m
	for _, k := range path {
		spec = deref(mapGet(spec, k))
		if spec == nil {
			return
		}
		flow = flow || spec.Style&yaml.FlowStyle != 0
	}
	for _, list := range []string{"initContainers", "containers"} {
		seq := deref(mapGet(spec, list))
		if seq == nil || seq.Kind != yaml.SequenceNode {
			continue
		}
		seqFlow := flow || seq.Style&yaml.FlowStyle != 0
		for i, c := range seq.Content {
			c = deref(c)
			if c == nil || c.Kind != yaml.MappingNode {
				continue
			}
			name := scalarValue(mapGet(c, "name"))
			key, shorthand, ok := inlinePolicy(ann, labels, name)
			if !ok {
				continue
			}
			img := mapGet(c, "image")
			sc := deref(img)
			if sc == nil || sc.Kind != yaml.ScalarNode || sc.Value == "" {
				continue
			}
			if _, marked := parseMarker(img.LineComment); marked {
				continue // the marker's target
			}
			if _, marked := parseMarker(sc.LineComment); marked {
				continue
			}
			imgFlow := seqFlow || c.Style&yaml.FlowStyle != 0
			if sc != img {
				f, known := s.flow[sc]
				imgFlow = f || !known
			}
			field := joinField(append(append([]string{}, path...), list, seqElem(c, i), "image"))
			t, err := s.target(sc, obj, field, imgFlow)
			if err != nil {
				s.fail(sc.Line, field, err)
				return
			}
			r := splitRef(sc.Value)
			t.Policy = inlineKey(sc.Value, shorthand)
			t.Part = PartFull
			t.Inline = &Inline{
				Container:  name,
				Init:       list == "initContainers",
				Annotation: key,
				Shorthand:  shorthand,
				Repository: r.name,
				Tag:        r.tag,
				Digest:     r.digest,
			}
			s.out = append(s.out, t)
		}
	}
}

// inlinePolicy finds the policy of one container: hoist.dev/policy.NAME
// (an empty value opts the container out), hoist.dev/policy, Flux v1's
// fluxcd.io/tag.NAME under fluxcd.io/automated: "true", then Keel's
// keel.sh/policy (an annotation, or a label).
func inlinePolicy(ann, labels *yaml.Node, container string) (key, shorthand string, ok bool) {
	if container != "" {
		if v := mapGet(ann, annHoistPolicy+"."+container); v != nil {
			s := scalarValue(v)
			return annHoistPolicy + "." + container, s, s != ""
		}
	}
	if s := scalarValue(mapGet(ann, annHoistPolicy)); s != "" {
		return annHoistPolicy, s, true
	}
	if container != "" && scalarValue(mapGet(ann, annFluxAutomated)) == "true" {
		if s := scalarValue(mapGet(ann, annFluxTag+container)); s != "" {
			return annFluxTag + container, s, true
		}
	}
	if s := scalarValue(mapGet(ann, annKeelPolicy)); s != "" {
		return annKeelPolicy, s, true
	}
	if s := scalarValue(mapGet(labels, annKeelPolicy)); s != "" {
		return annKeelPolicy, s, true
	}
	return "", "", false
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
		return fmt.Errorf("%w: %d documents became %d", ErrVerify, len(od), len(nd))
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
		return fmt.Errorf("%w: %d of %d changes read back", ErrVerify, matched, len(changes))
	}
	return nil
}
