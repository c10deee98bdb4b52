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

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

const yamlFormatName = "yaml"

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
	first := len(s.out)
	s.node(m, obj, flow)
	s.workload(m, obj, flow)
	if scalarValue(mapGet(mapGet(mapGet(m, "metadata"), "annotations"), annHold)) == "true" {
		for i := first; i < len(s.out); i++ {
			s.out[i].Hold = true
		}
	}
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
	marker, hold, ok := parseMarkerHold(n.LineComment)
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
	t.Hold = hold
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
