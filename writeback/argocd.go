package writeback

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// ArgoFile says which file of an Argo CD Application is written, and how
// Argo CD reads it.
type ArgoFile string

// The files of the Argo CD write-back (see docs/argocd.md).
const (
	// ArgoSourceHelm is .argocd-source-APP.yaml of a Helm application:
	// helm.parameters, each {forcestring, name, value}.
	ArgoSourceHelm ArgoFile = "source-helm"
	// ArgoSourceKustomize is .argocd-source-APP.yaml of a Kustomize
	// application: kustomize.images, each "[OLD=]NAME:TAG".
	ArgoSourceKustomize ArgoFile = "source-kustomize"
	// ArgoKustomization is a kustomization file: images, each {name,
	// newName, newTag, digest}, as kustomize edit set image writes them.
	ArgoKustomization ArgoFile = "kustomization"
	// ArgoHelmValues is a Helm values file: the values at the dotted paths
	// of the Helm parameters.
	ArgoHelmValues ArgoFile = "helmvalues"
)

// ArgoImage is one image of an Argo CD Application and its selection.
type ArgoImage struct {
	// Policy is the policy key (NAMESPACE:NAME) that selected Ref.
	Policy string
	// Ref is the selected reference, NAME:TAG, NAME:TAG@DIGEST; "" leaves
	// the image alone.
	Ref string
	// HelmName and HelmTag are the Helm parameters (or values paths) of the
	// image's name and tag; HelmSpec, when set, the one of the whole
	// reference instead.
	HelmName, HelmTag, HelmSpec string
	// KustomizeName is the image's name in the kustomization (the name
	// Kustomize replaces); "" means the name of Ref.
	KustomizeName string
}

// ArgoPlan is the planned write-back of one file.
type ArgoPlan struct {
	// Old and New are the file's bytes before and after; Old is nil for a
	// file that does not exist.
	Old, New []byte
	// Changes are the values written, one per scalar, with File set.
	Changes []Change
}

// PlanArgo computes the new bytes of one file of the Argo CD write-back.
// It is pure. data is the file's content, nil when it does not exist (it
// is then created). Values already in place are left as they are, with
// every other byte; a value that is missing is added at the end of the
// block it belongs in (a new list item, a new key), in the file's
// indentation. The result is parsed again and must read the new values
// where Argo CD reads them. A file that cannot be edited so (a flow
// collection to add to, a value of another type at a path) is refused
// with a *FileError.
func PlanArgo(file string, data []byte, kind ArgoFile, images []ArgoImage) (ArgoPlan, error) {
	fail := func(err error) (ArgoPlan, error) {
		var fe *FileError
		if errors.As(err, &fe) {
			return ArgoPlan{}, err
		}
		return ArgoPlan{}, &FileError{File: file, Err: err}
	}
	e := &argoEditor{file: file, data: data}
	var root *yaml.Node
	if len(bytes.TrimSpace(data)) > 0 {
		docs, err := parseYAML(file, data)
		if err != nil {
			return fail(err)
		}
		if len(docs) != 1 {
			return fail(fmt.Errorf("%w: %s, want one", ErrUnsupported, count(len(docs), "document", "documents")))
		}
		if len(docs[0].Content) > 0 {
			root = docs[0].Content[0]
			if root.Kind != yaml.MappingNode {
				return fail(fmt.Errorf("%w: the document is not a mapping", ErrUnsupported))
			}
		}
	}
	e.x = newLineIndex(data)
	var want []argoWant
	for _, im := range images {
		if im.Ref == "" {
			continue
		}
		r := splitRef(im.Ref)
		tag := r.tag
		if r.digest != "" {
			tag += "@" + r.digest
		}
		switch kind {
		case ArgoSourceHelm, ArgoHelmValues:
			if im.HelmSpec != "" {
				want = append(want, argoWant{key: im.HelmSpec, value: im.Ref, policy: im.Policy})
				continue
			}
			want = append(want,
				argoWant{key: im.HelmName, value: r.name, policy: im.Policy},
				argoWant{key: im.HelmTag, value: tag, policy: im.Policy})
		case ArgoSourceKustomize:
			value := r.name + ":" + tag
			if r.tag == "" {
				value = r.name + "@" + r.digest
			}
			name := cmp.Or(im.KustomizeName, r.name)
			if name != r.name {
				value = name + "=" + value
			}
			want = append(want, argoWant{key: name, value: value, policy: im.Policy})
		case ArgoKustomization:
			name := cmp.Or(im.KustomizeName, r.name)
			if name != r.name {
				want = append(want, argoWant{key: name, field: "newName", value: r.name, policy: im.Policy})
			}
			if r.tag != "" {
				want = append(want, argoWant{key: name, field: "newTag", value: r.tag, policy: im.Policy})
			}
			if r.digest != "" {
				want = append(want, argoWant{key: name, field: "digest", value: r.digest, policy: im.Policy})
			}
		default:
			return fail(fmt.Errorf("%w: unknown Argo CD file kind %q", ErrUnsupported, kind))
		}
	}
	var err error
	switch kind {
	case ArgoSourceHelm:
		err = e.helmParameters(root, want)
	case ArgoSourceKustomize:
		err = e.kustomizeImages(root, want)
	case ArgoKustomization:
		err = e.kustomizationImages(root, want)
	case ArgoHelmValues:
		err = e.helmValues(root, want)
	}
	if err != nil {
		return fail(err)
	}
	out, changes := e.apply()
	if len(changes) == 0 {
		return ArgoPlan{Old: data, New: data}, nil
	}
	if err := verifyArgo(out, kind, want); err != nil {
		return fail(err)
	}
	return ArgoPlan{Old: data, New: out, Changes: changes}, nil
}

// argoWant is one value to be in place: for Helm the parameter (or values
// path) key; for Kustomize the image's name, and for a kustomization the
// field of its entry.
type argoWant struct {
	key, field, value, policy string
}

// argoEditor collects the edits of one file: scalars replaced and text
// inserted, each at a byte offset of the original.
type argoEditor struct {
	file  string
	data  []byte
	x     *lineIndex
	edits []argoEdit
}

type argoEdit struct {
	span      Span // insertion when Start == End
	text      string
	old, new  string
	policy    string
	field     string
	insertion bool
}

// setScalar replaces the scalar n with value, in its style, unless it holds
// it already.
func (e *argoEditor) setScalar(n *yaml.Node, value, field, policy string) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("%w: %s is not a scalar (line %d)", ErrUnsupported, field, n.Line)
	}
	if n.Value == value && n.Tag == "!!str" {
		return nil
	}
	span, style, err := locate(e.x, n)
	if err != nil {
		return fmt.Errorf("%s (line %d): %w", field, n.Line, err)
	}
	text, err := yamlFormat{}.encode(Target{Style: style, Flow: n.Style&yaml.FlowStyle != 0}, value)
	if err != nil {
		return err
	}
	e.edits = append(e.edits, argoEdit{span: span, text: text, old: n.Value, new: value, policy: policy, field: field})
	return nil
}

// insert adds text at off; the values it adds are recorded as changes.
func (e *argoEditor) insert(off int, text string, values []argoEdit) {
	for _, v := range values {
		v.span = Span{off, off}
		v.insertion = true
		e.edits = append(e.edits, v)
	}
	// The text is carried by a zero-value edit so that it is applied once.
	e.edits = append(e.edits, argoEdit{span: Span{off, off}, text: text})
}

// apply returns the edited bytes and the changes, with lines of the new
// file.
func (e *argoEditor) apply() ([]byte, []Change) {
	edits := slices.Clone(e.edits)
	slices.SortStableFunc(edits, func(a, b argoEdit) int { return cmp.Compare(a.span.Start, b.span.Start) })
	var out []byte
	prev := 0
	type placed struct {
		e   argoEdit
		off int
	}
	var ps []placed
	for _, ed := range edits {
		if ed.span.Start < prev {
			continue // overlapping: verifyArgo refuses the result
		}
		out = append(out, e.data[prev:ed.span.Start]...)
		if ed.new != "" || ed.old != "" {
			ps = append(ps, placed{ed, len(out)})
		}
		out = append(out, ed.text...)
		prev = ed.span.End
	}
	out = append(out, e.data[prev:]...)
	x := newLineIndex(out)
	var changes []Change
	for _, p := range ps {
		off := p.off
		if p.e.insertion {
			// The line of the value inside the inserted text.
			if i := bytes.Index(out[off:], []byte(p.e.new)); i >= 0 {
				off += i
			}
		}
		line, col := x.position(off)
		changes = append(changes, Change{File: e.file, Line: line, Column: col, Old: p.e.old, New: p.e.new,
			Policy: p.e.policy, Setter: p.e.policy, Field: p.e.field})
	}
	slices.SortStableFunc(changes, func(a, b Change) int { return cmp.Compare(a.Line, b.Line) })
	return out, changes
}

// mapValue returns the value of key in mapping m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return deref(m.Content[i+1])
		}
	}
	return nil
}

// lineEnd returns the offset just past the line break of the line holding
// off (the end of data on the last line).
func lineEnd(data []byte, off int) int {
	if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
		return off + i + 1
	}
	return len(data)
}

// nodeEnd returns the offset just past the last line of node n.
func (e *argoEditor) nodeEnd(n *yaml.Node) (int, error) {
	for (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) && len(n.Content) > 0 {
		if n.Style&yaml.FlowStyle != 0 {
			return 0, fmt.Errorf("%w: a flow collection (line %d) cannot be added to", ErrUnsupported, n.Line)
		}
		n = n.Content[len(n.Content)-1]
	}
	if n.Kind == yaml.ScalarNode && n.Value != "" {
		span, _, err := locate(e.x, n)
		if err != nil {
			return 0, err
		}
		return lineEnd(e.data, span.End), nil
	}
	off, ok := e.x.offset(n.Line, n.Column)
	if !ok {
		return 0, fmt.Errorf("%w: position %d:%d", ErrUnsupported, n.Line, n.Column)
	}
	return lineEnd(e.data, off), nil
}

// atEnd returns the offset to insert at the end of the file, and the line
// break to put first when the file does not end with one.
func (e *argoEditor) atEnd() (int, string) {
	if len(e.data) > 0 && e.data[len(e.data)-1] != '\n' {
		return len(e.data), e.newline()
	}
	return len(e.data), ""
}

// newline is the file's line break.
func (e *argoEditor) newline() string {
	if bytes.Contains(e.data, []byte("\r\n")) {
		return "\r\n"
	}
	return "\n"
}

// indentOf returns the column (0-based) of the dash of the sequence item n.
func (e *argoEditor) dashColumn(item *yaml.Node) int {
	off, ok := e.x.offset(item.Line, item.Column)
	if !ok {
		return 0
	}
	for i := off - 1; i >= 0 && e.data[i] != '\n'; i-- {
		if e.data[i] == '-' {
			_, col := e.x.position(i)
			return col - 1
		}
	}
	return item.Column - 1
}

// scalarText writes v as a plain scalar when it reads back as the string
// v, else double-quoted.
func scalarText(v string) string {
	if plainOK(v, false) {
		return v
	}
	return doubleQuote(v)
}

// block renders lines, each indented by ind spaces, with the file's line
// break.
func (e *argoEditor) block(ind int, lines ...string) string {
	var b strings.Builder
	nl := e.newline()
	for _, l := range lines {
		b.WriteString(strings.Repeat(" ", ind))
		b.WriteString(l)
		b.WriteString(nl)
	}
	return b.String()
}

// ensureList returns the sequence at keys under root, or where and with
// which indentation to add it: the list exists (seq), or it is added as
// text prefix+items after off.
func (e *argoEditor) listAt(root *yaml.Node, keys ...string) (seq *yaml.Node, off int, prefix string, ind int, err error) {
	parent := root
	depth := 0
	for i, k := range keys {
		v := mapValue(parent, k)
		if v == nil {
			depth = i
			break
		}
		if i == len(keys)-1 {
			if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				return nil, 0, "", 0, fmt.Errorf("%w: %s is empty (line %d); remove it or give it a list", ErrUnsupported, strings.Join(keys, "."), v.Line)
			}
			if v.Kind != yaml.SequenceNode {
				return nil, 0, "", 0, fmt.Errorf("%w: %s is not a list (line %d)", ErrUnsupported, strings.Join(keys, "."), v.Line)
			}
			return v, 0, "", 0, nil
		}
		if v.Kind != yaml.MappingNode {
			return nil, 0, "", 0, fmt.Errorf("%w: %s is not a mapping (line %d)", ErrUnsupported, k, v.Line)
		}
		parent = v
		depth = i + 1
	}
	// keys[depth:] are missing under parent (root when nil).
	if parent == nil || len(parent.Content) == 0 {
		o, nl := e.atEnd()
		off = o
		var b strings.Builder
		b.WriteString(nl)
		for i, k := range keys[depth:] {
			b.WriteString(strings.Repeat(" ", 2*i) + k + ":" + e.newline())
		}
		return nil, off, b.String(), 2 * (len(keys) - depth - 1), nil
	}
	if parent.Style&yaml.FlowStyle != 0 {
		return nil, 0, "", 0, fmt.Errorf("%w: a flow mapping (line %d) cannot be added to", ErrUnsupported, parent.Line)
	}
	if parent == root {
		o, nl := e.atEnd()
		off = o
		prefix = nl
	} else if off, err = e.nodeEnd(parent); err != nil {
		return nil, 0, "", 0, err
	}
	base := parent.Content[0].Column - 1
	var b strings.Builder
	b.WriteString(prefix)
	for i, k := range keys[depth:] {
		b.WriteString(strings.Repeat(" ", base+2*i) + k + ":" + e.newline())
	}
	return nil, off, b.String(), base + 2*(len(keys)-depth-1), nil
}

// helmParameters writes helm.parameters of .argocd-source: an existing
// parameter's value is replaced, a new one appended.
func (e *argoEditor) helmParameters(root *yaml.Node, want []argoWant) error {
	seq, off, prefix, ind, err := e.listAt(root, "helm", "parameters")
	if err != nil {
		return err
	}
	var add []argoWant
	for _, w := range want {
		found := false
		if seq != nil {
			for i, item := range seq.Content {
				item = deref(item)
				if n := mapValue(item, "name"); n != nil && n.Value == w.key {
					v := mapValue(item, "value")
					if v == nil {
						return fmt.Errorf("%w: helm.parameters[%d] (line %d) has no value", ErrUnsupported, i, item.Line)
					}
					if err := e.setScalar(v, w.value, fmt.Sprintf("helm.parameters[name=%s].value", w.key), w.policy); err != nil {
						return err
					}
					found = true
				}
			}
		}
		if !found {
			add = append(add, w)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if seq != nil {
		if off, err = e.nodeEnd(seq); err != nil {
			return err
		}
		ind = e.dashColumn(seq.Content[0])
	}
	var b strings.Builder
	b.WriteString(prefix)
	var values []argoEdit
	for _, w := range add {
		b.WriteString(e.block(ind, "- forcestring: true", "  name: "+scalarText(w.key), "  value: "+scalarText(w.value)))
		values = append(values, argoEdit{new: w.value, policy: w.policy, field: fmt.Sprintf("helm.parameters[name=%s].value", w.key)})
	}
	e.insert(off, b.String(), values)
	return nil
}

// kustomizeImageName is the image name a kustomize.images entry of
// .argocd-source replaces: the part before '=', else the name without tag
// and digest.
func kustomizeImageName(entry string) string {
	if old, _, ok := strings.Cut(entry, "="); ok {
		return old
	}
	return splitRef(entry).name
}

// kustomizeImages writes kustomize.images of .argocd-source.
func (e *argoEditor) kustomizeImages(root *yaml.Node, want []argoWant) error {
	seq, off, prefix, ind, err := e.listAt(root, "kustomize", "images")
	if err != nil {
		return err
	}
	var add []argoWant
	for _, w := range want {
		found := false
		if seq != nil {
			for _, item := range seq.Content {
				item = deref(item)
				if item.Kind == yaml.ScalarNode && kustomizeImageName(item.Value) == w.key {
					if err := e.setScalar(item, w.value, fmt.Sprintf("kustomize.images[%s]", w.key), w.policy); err != nil {
						return err
					}
					found = true
				}
			}
		}
		if !found {
			add = append(add, w)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if seq != nil {
		if off, err = e.nodeEnd(seq); err != nil {
			return err
		}
		ind = e.dashColumn(seq.Content[0])
	}
	var b strings.Builder
	b.WriteString(prefix)
	var values []argoEdit
	for _, w := range add {
		b.WriteString(e.block(ind, "- "+scalarText(w.value)))
		values = append(values, argoEdit{new: w.value, policy: w.policy, field: fmt.Sprintf("kustomize.images[%s]", w.key)})
	}
	e.insert(off, b.String(), values)
	return nil
}

// kustomizationImages writes the images of a kustomization file: the
// fields of the entry of the image's name, which is added when missing.
func (e *argoEditor) kustomizationImages(root *yaml.Node, want []argoWant) error {
	seq, off, prefix, ind, err := e.listAt(root, "images")
	if err != nil {
		return err
	}
	// Kustomize writes a top-level list at the key's indentation.
	if seq == nil && prefix != "" {
		ind = 0
	}
	var order []string
	byName := map[string][]argoWant{}
	for _, w := range want {
		if _, ok := byName[w.key]; !ok {
			order = append(order, w.key)
		}
		byName[w.key] = append(byName[w.key], w)
	}
	var newItems []string
	var values []argoEdit
	for _, name := range order {
		var item *yaml.Node
		if seq != nil {
			for _, it := range seq.Content {
				if it = deref(it); mapValue(it, "name") != nil && mapValue(it, "name").Value == name {
					item = it
					break
				}
			}
		}
		if item == nil {
			lines := []string{"- name: " + scalarText(name)}
			for _, f := range []string{"newName", "newTag", "digest"} {
				for _, w := range byName[name] {
					if w.field == f {
						lines = append(lines, "  "+f+": "+scalarText(w.value))
						values = append(values, argoEdit{new: w.value, policy: w.policy, field: fmt.Sprintf("images[name=%s].%s", name, f)})
					}
				}
			}
			newItems = append(newItems, e.block(ind, lines...))
			continue
		}
		if item.Style&yaml.FlowStyle != 0 {
			return fmt.Errorf("%w: images entry %q (line %d) is a flow mapping", ErrUnsupported, name, item.Line)
		}
		var missing []argoWant
		for _, w := range byName[name] {
			field := fmt.Sprintf("images[name=%s].%s", name, w.field)
			if v := mapValue(item, w.field); v != nil {
				if err := e.setScalar(v, w.value, field, w.policy); err != nil {
					return err
				}
				continue
			}
			missing = append(missing, w)
		}
		if len(missing) > 0 {
			end, err := e.nodeEnd(item)
			if err != nil {
				return err
			}
			var lines []string
			var vals []argoEdit
			for _, w := range missing {
				lines = append(lines, w.field+": "+scalarText(w.value))
				vals = append(vals, argoEdit{new: w.value, policy: w.policy, field: fmt.Sprintf("images[name=%s].%s", name, w.field)})
			}
			e.insert(end, e.block(item.Content[0].Column-1, lines...), vals)
		}
	}
	if len(newItems) == 0 {
		return nil
	}
	if seq != nil {
		if off, err = e.nodeEnd(seq); err != nil {
			return err
		}
		// Rendered again at the list's own indentation.
		return e.kustomizationAppend(off, e.dashColumn(seq.Content[0]), order, byName, seq)
	}
	e.insert(off, prefix+strings.Join(newItems, ""), values)
	return nil
}

// kustomizationAppend appends the entries of the names that the list seq
// does not hold.
func (e *argoEditor) kustomizationAppend(off, ind int, order []string, byName map[string][]argoWant, seq *yaml.Node) error {
	var b strings.Builder
	var values []argoEdit
	for _, name := range order {
		exists := false
		for _, it := range seq.Content {
			if n := mapValue(deref(it), "name"); n != nil && n.Value == name {
				exists = true
			}
		}
		if exists {
			continue
		}
		lines := []string{"- name: " + scalarText(name)}
		for _, f := range []string{"newName", "newTag", "digest"} {
			for _, w := range byName[name] {
				if w.field == f {
					lines = append(lines, "  "+f+": "+scalarText(w.value))
					values = append(values, argoEdit{new: w.value, policy: w.policy, field: fmt.Sprintf("images[name=%s].%s", name, f)})
				}
			}
		}
		b.WriteString(e.block(ind, lines...))
	}
	e.insert(off, b.String(), values)
	return nil
}

// helmValues writes the values at dotted paths of a Helm values file,
// adding the keys that are missing.
func (e *argoEditor) helmValues(root *yaml.Node, want []argoWant) error {
	// Missing keys under one mapping are added together, in want's order.
	type pending struct {
		off  int
		base int
		tree *keyTree
		vals []argoEdit
	}
	adds := map[*yaml.Node]*pending{}
	var order []*yaml.Node
	rootKey := &yaml.Node{} // stands for a missing or empty document
	for _, w := range want {
		keys := strings.Split(w.key, ".")
		parent := root
		i := 0
		for ; i < len(keys); i++ {
			v := mapValue(parent, keys[i])
			if v == nil {
				break
			}
			if i == len(keys)-1 {
				if err := e.setScalar(v, w.value, w.key, w.policy); err != nil {
					return err
				}
				break
			}
			if v.Kind != yaml.MappingNode {
				return fmt.Errorf("%w: %s is not a mapping (line %d)", ErrUnsupported, strings.Join(keys[:i+1], "."), v.Line)
			}
			parent = v
		}
		if i == len(keys) || mapValue(parent, keys[i]) != nil {
			continue
		}
		key := parent
		if key == nil || len(key.Content) == 0 {
			key = rootKey
		}
		p := adds[key]
		if p == nil {
			p = &pending{tree: &keyTree{}}
			switch {
			case key == rootKey || parent == root:
				p.off, _ = e.atEnd()
			case parent.Style&yaml.FlowStyle != 0:
				return fmt.Errorf("%w: a flow mapping (line %d) cannot be added to", ErrUnsupported, parent.Line)
			default:
				off, err := e.nodeEnd(parent)
				if err != nil {
					return err
				}
				p.off = off
			}
			if key != rootKey {
				p.base = parent.Content[0].Column - 1
			}
			adds[key] = p
			order = append(order, key)
		}
		p.tree.add(keys[i:], w.value)
		p.vals = append(p.vals, argoEdit{new: w.value, policy: w.policy, field: w.key})
	}
	for _, key := range order {
		p := adds[key]
		_, nl := e.atEnd()
		if p.off != len(e.data) {
			nl = ""
		}
		var lines []string
		p.tree.render(p.base, &lines)
		e.insert(p.off, nl+e.block(0, lines...), p.vals)
	}
	return nil
}

// keyTree is nested keys to add, in the order they were first named.
type keyTree struct {
	keys  []string
	kids  map[string]*keyTree
	value map[string]string
}

func (t *keyTree) add(keys []string, value string) {
	if t.kids == nil {
		t.kids, t.value = map[string]*keyTree{}, map[string]string{}
	}
	k := keys[0]
	if _, ok := t.kids[k]; !ok {
		if _, ok := t.value[k]; !ok {
			t.keys = append(t.keys, k)
		}
	}
	if len(keys) == 1 {
		t.value[k] = value
		return
	}
	if t.kids[k] == nil {
		t.kids[k] = &keyTree{}
	}
	t.kids[k].add(keys[1:], value)
}

func (t *keyTree) render(ind int, lines *[]string) {
	for _, k := range t.keys {
		pad := strings.Repeat(" ", ind)
		if v, ok := t.value[k]; ok && t.kids[k] == nil {
			*lines = append(*lines, pad+scalarText(k)+": "+scalarText(v))
			continue
		}
		*lines = append(*lines, pad+scalarText(k)+":")
		t.kids[k].render(ind+2, lines)
	}
}

// verifyArgo parses the new file and checks that it reads every wanted
// value where Argo CD reads it.
func verifyArgo(data []byte, kind ArgoFile, want []argoWant) error {
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	get := func(m any, key string) any {
		if mm, ok := m.(map[string]any); ok {
			return mm[key]
		}
		return nil
	}
	for _, w := range want {
		ok := false
		switch kind {
		case ArgoSourceHelm:
			params, _ := get(get(doc, "helm"), "parameters").([]any)
			for _, p := range params {
				if get(p, "name") == w.key && get(p, "value") == w.value {
					ok = true
				}
			}
		case ArgoSourceKustomize:
			imgs, _ := get(get(doc, "kustomize"), "images").([]any)
			for _, i := range imgs {
				if i == w.value {
					ok = true
				}
			}
		case ArgoKustomization:
			imgs, _ := get(doc, "images").([]any)
			for _, i := range imgs {
				if get(i, "name") == w.key && get(i, w.field) == w.value {
					ok = true
				}
			}
		case ArgoHelmValues:
			var v any = doc
			for _, k := range strings.Split(w.key, ".") {
				v = get(v, k)
			}
			ok = v == w.value
		}
		if !ok {
			what := w.key
			if w.field != "" {
				what += "." + w.field
			}
			return fmt.Errorf("%w: %s does not read %q after the edit", ErrVerify, what, w.value)
		}
	}
	return nil
}

// WriteArgo writes the new bytes of a plan to file (a slash path relative
// to root), as Write does: the file must still hold plan.Old (or still
// not exist when plan.Old is nil), no symbolic link may be on the way or
// be the file, and the new bytes replace the file by a rename. A new file
// gets mode 0644; the directory must exist.
func WriteArgo(root, file string, plan ArgoPlan) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return fmt.Errorf("opening root %q: %w", root, err)
	}
	defer func() { _ = r.Close() }() // files written through r are closed by replace
	name := filepath.FromSlash(file)
	if !filepath.IsLocal(name) {
		return &FileError{File: file, Err: ErrOutsideRoot}
	}
	for dir := filepath.Dir(name); dir != "."; dir = filepath.Dir(dir) {
		if fi, err := r.Lstat(dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return &FileError{File: file, Err: fmt.Errorf("%w: %s", ErrSymlink, filepath.ToSlash(dir))}
		}
	}
	perm := fs.FileMode(0o644)
	fi, err := r.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if plan.Old != nil {
			return &FileError{File: file, Err: fmt.Errorf("%w: the file is gone", ErrStale)}
		}
	case err != nil:
		return &FileError{File: file, Err: err}
	case fi.Mode()&fs.ModeSymlink != 0:
		return &FileError{File: file, Err: ErrSymlink}
	case !fi.Mode().IsRegular():
		return &FileError{File: file, Err: fmt.Errorf("%w: not a regular file", ErrUnsupported)}
	default:
		old, err := r.ReadFile(name)
		if err != nil {
			return &FileError{File: file, Err: err}
		}
		if plan.Old == nil || !bytes.Equal(old, plan.Old) {
			return &FileError{File: file, Err: ErrStale}
		}
		perm = fi.Mode().Perm()
	}
	if err := replace(r, name, plan.New, perm); err != nil {
		return &FileError{File: file, Err: err}
	}
	return nil
}

// ReadArgo reads file (a slash path relative to root) for PlanArgo: nil
// when it does not exist. A symbolic link on the way or as the file is
// refused, as Write refuses it.
func ReadArgo(root, file string) ([]byte, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("opening root %q: %w", root, err)
	}
	defer func() { _ = r.Close() }() // read only
	name := filepath.FromSlash(file)
	if !filepath.IsLocal(name) {
		return nil, &FileError{File: file, Err: ErrOutsideRoot}
	}
	for dir := filepath.Dir(name); dir != "."; dir = filepath.Dir(dir) {
		if fi, err := r.Lstat(dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return nil, &FileError{File: file, Err: fmt.Errorf("%w: %s", ErrSymlink, filepath.ToSlash(dir))}
		}
	}
	fi, err := r.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, &FileError{File: file, Err: err}
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, &FileError{File: file, Err: ErrSymlink}
	case !fi.Mode().IsRegular():
		return nil, &FileError{File: file, Err: fmt.Errorf("%w: not a regular file", ErrUnsupported)}
	}
	data, err := r.ReadFile(name)
	if err != nil {
		return nil, &FileError{File: file, Err: err}
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}
