package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodeBudget bounds the YAML nodes visited for one document, aliases
// expanded, so that a small file cannot make decoding explode; maxMerge
// bounds nested merge keys (<<).
const (
	nodeBudget = 100_000
	maxMerge   = 16
)

type position struct{ line, col int }

// document is one YAML document of one of our kinds, being decoded. It
// remembers the position of every field it saw, so that problems found later
// (in validation, or when resolving references) name the right line.
type document struct {
	l          *loader
	file       string
	base       int // absolute line = base + node line
	start      position
	apiVersion string
	kind       string
	flux       bool
	// lenient skips unknown fields: a foreign kind (Argo CD's
	// Application) of which only some fields are read.
	lenient   bool
	pos       map[string]position
	failed    map[string]bool // paths with an error
	budget    int
	exhausted bool
}

func (d *document) position(n *yaml.Node) position {
	return position{line: d.base + n.Line, col: n.Column}
}

// at returns the position of path, or of its nearest parent that was seen.
func (d *document) at(path string) position {
	for path != "" {
		if p, ok := d.pos[path]; ok {
			return p
		}
		path = parentPath(path)
	}
	return d.start
}

func (d *document) source() Source {
	return Source{File: d.file, Line: d.start.line, APIVersion: d.apiVersion, Flux: d.flux}
}

// markFailed notes that the field at path has a problem. A document seeded
// from a base Set has no map until then (a load onto 10,000 objects).
func (d *document) markFailed(path string) {
	if d.failed == nil {
		d.failed = map[string]bool{}
	}
	d.failed[path] = true
}

// fail records err as a problem of the field at path.
func (d *document) fail(path string, err error) {
	p := d.at(path)
	d.markFailed(path)
	d.l.errs = append(d.l.errs, &Error{File: d.file, Line: p.line, Column: p.col, Field: path, Err: err})
}

// failAt records err as a problem of the field at path, positioned at node n
// (a key, or an item of a merge) rather than at the field.
func (d *document) failAt(n *yaml.Node, path string, err error) {
	p := d.position(n)
	d.markFailed(path)
	d.l.errs = append(d.l.errs, &Error{File: d.file, Line: p.line, Column: p.col, Field: path, Err: err})
}

func (d *document) errorf(path, format string, args ...any) {
	d.fail(path, fmt.Errorf(format, args...))
}

func (d *document) warnf(path, format string, args ...any) {
	p := d.at(path)
	d.l.warns = append(d.l.warns, Warning{File: d.file, Line: p.line, Column: p.col, Field: path, Message: fmt.Sprintf(format, args...)})
}

// spend counts one visited node; false once the budget is exhausted.
func (d *document) spend() bool {
	if d.exhausted {
		return false
	}
	d.budget--
	if d.budget < 0 {
		d.exhausted = true
		d.errorf("", "document too large, or too many aliases (more than %d nodes)", nodeBudget)
		return false
	}
	return true
}

// decode converts the document's root mapping into obj (a pointer to one of
// the v1alpha1 types): unknown fields, values of the wrong shape and bad
// durations are reported with their line and left out, the rest is decoded
// with encoding/json as Kubernetes decodes YAML. It reports false when obj
// could not be decoded at all.
func (d *document) decode(root *yaml.Node, obj any) bool {
	tree, ok := d.convert(root, reflect.TypeOf(obj), "")
	if !ok {
		return false
	}
	data, err := json.Marshal(tree)
	if err != nil {
		d.errorf("", "decoding: %v", err)
		return false
	}
	if err := json.Unmarshal(data, obj); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			d.errorf(te.Field, "want %s, got %s", te.Type, te.Value)
		} else {
			d.errorf("", "decoding: %v", err)
		}
		return false
	}
	return true
}

// convert turns node n into a JSON value for a Go value of type t.
func (d *document) convert(n *yaml.Node, t reflect.Type, path string) (any, bool) {
	n = resolve(n)
	if n == nil || !d.spend() {
		return nil, false
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if isNull(n) {
		if t.Kind() == reflect.Struct && t.NumField() == 0 {
			return map[string]any{}, true // "newestBuild:" sets the rule
		}
		return nil, true
	}
	switch t {
	case reflect.TypeFor[metav1.Duration]():
		s, ok := d.scalar(n, path, "a duration")
		if !ok {
			return nil, false
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.errorf(path, "parsing duration %q: want a number and a unit, such as 90s, 5m or 1h30m", s)
			return nil, false
		}
		if dur < 0 {
			d.errorf(path, "duration %q must not be negative", s)
			return nil, false
		}
		return s, true
	case reflect.TypeFor[metav1.Time]():
		s, ok := d.scalar(n, path, "a time")
		if !ok {
			return nil, false
		}
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			d.errorf(path, "parsing time %q: want RFC 3339, such as 2006-01-02T15:04:05Z", s)
			return nil, false
		}
		return s, true
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return d.anyValue(n, path)
	}
	switch t.Kind() {
	case reflect.Struct:
		return d.structValue(n, t, path)
	case reflect.Map:
		return d.mapValue(n, t, path)
	case reflect.Slice:
		return d.sliceValue(n, t, path)
	case reflect.String:
		s, ok := d.scalar(n, path, "a string")
		if ok {
			d.checkQuoting(n, path)
		}
		return s, ok
	case reflect.Bool:
		s, ok := d.scalar(n, path, "true or false")
		if !ok {
			return nil, false
		}
		b, ok := parseBool(s)
		if !ok {
			d.errorf(path, "want true or false, got %q", s)
			return nil, false
		}
		return b, true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s, ok := d.scalar(n, path, "an integer")
		if !ok {
			return nil, false
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, 64)
		if err != nil {
			d.errorf(path, "want an integer, got %q", s)
			return nil, false
		}
		return json.Number(strconv.FormatInt(i, 10)), true
	case reflect.Float32, reflect.Float64:
		s, ok := d.scalar(n, path, "a number")
		if !ok {
			return nil, false
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			d.errorf(path, "want a number, got %q", s)
			return nil, false
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), true
	case reflect.Interface:
		return d.anyValue(n, path)
	}
	d.errorf(path, "cannot decode into %s", t)
	return nil, false
}

func (d *document) structValue(n *yaml.Node, t reflect.Type, path string) (any, bool) {
	if n.Kind != yaml.MappingNode {
		d.errorf(path, "want a mapping, got %s", describe(n))
		return nil, false
	}
	fields := jsonFields(t)
	out := make(map[string]any)
	for _, kv := range d.pairs(n, path, 0) {
		key := kv.key.Value
		child := joinPath(path, key)
		if _, seen := d.pos[child]; !seen {
			d.pos[child] = d.position(kv.key)
		}
		if path == "" && key == "status" && d.kind != ApplicationKind {
			// Written by controllers; not part of the intent. An Argo CD
			// Application's says which images it runs (force-update).
			continue
		}
		ft, known := fields[key]
		if !known && d.lenient {
			continue
		}
		if !known {
			if fluxOnlyField(d.kind, child) {
				if !isZero(kv.value) {
					d.warnf(child, "field of Flux's API that hoist does not act on; ignored")
				}
				continue
			}
			d.fail(child, unknownField(key, fields))
			continue
		}
		if ignoredField(d.kind, child) && !isZero(kv.value) {
			d.warnf(child, "field of Flux's API that hoist does not act on; ignored")
		}
		if v, ok := d.convert(kv.value, ft, child); ok {
			out[key] = v
		}
	}
	return out, true
}

func (d *document) mapValue(n *yaml.Node, t reflect.Type, path string) (any, bool) {
	if n.Kind != yaml.MappingNode {
		d.errorf(path, "want a mapping, got %s", describe(n))
		return nil, false
	}
	if t.Key().Kind() != reflect.String {
		d.errorf(path, "cannot decode into %s", t)
		return nil, false
	}
	out := make(map[string]any)
	for _, kv := range d.pairs(n, path, 0) {
		child := mapKeyPath(path, kv.key.Value)
		if _, seen := d.pos[child]; !seen {
			d.pos[child] = d.position(kv.key)
		}
		if v, ok := d.convert(kv.value, t.Elem(), child); ok {
			out[kv.key.Value] = v
		}
	}
	return out, true
}

func (d *document) sliceValue(n *yaml.Node, t reflect.Type, path string) (any, bool) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(path, "want a list, got %s", describe(n))
		return nil, false
	}
	out := make([]any, 0, len(n.Content))
	for i, item := range n.Content {
		child := fmt.Sprintf("%s[%d]", path, i)
		if r := resolve(item); r != nil {
			d.pos[child] = d.position(r)
		}
		if v, ok := d.convert(item, t.Elem(), child); ok {
			out = append(out, v)
		}
	}
	return out, true
}

// anyValue decodes a node whose Go type decodes itself (for example
// metadata.managedFields) with YAML's own rules.
func (d *document) anyValue(n *yaml.Node, path string) (any, bool) {
	var v any
	if err := n.Decode(&v); err != nil {
		d.errorf(path, "%v", err)
		return nil, false
	}
	if err := checkJSONable(v); err != nil {
		d.errorf(path, "%v", err)
		return nil, false
	}
	return v, true
}

func checkJSONable(v any) error {
	switch v := v.(type) {
	case map[string]any:
		for _, x := range v {
			if err := checkJSONable(x); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range v {
			if err := checkJSONable(x); err != nil {
				return err
			}
		}
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return fmt.Errorf("%v is not a JSON number", v)
		}
	case nil, string, bool, int, int64, uint64:
	default:
		return fmt.Errorf("a value of type %T cannot be read (mapping keys must be strings)", v)
	}
	return nil
}

func (d *document) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(path, "want %s, got %s", want, describe(n))
		return "", false
	}
	return n.Value, true
}

type pair struct{ key, value *yaml.Node }

// pairs returns the entries of a mapping, with YAML merge keys (<<)
// expanded; keys written in the mapping win over merged ones. A key given
// twice is reported. depth counts the merges being expanded.
func (d *document) pairs(n *yaml.Node, path string, depth int) []pair {
	var explicit, merged []pair
	first := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k == nil || !d.spend() {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.failAt(k, path, fmt.Errorf("a key must be a string, got %s", describe(k)))
			continue
		}
		if k.Tag == "!!merge" {
			if depth >= maxMerge {
				d.failAt(k, path, fmt.Errorf("merges (<<) nested more than %d deep, or merging themselves", maxMerge))
				continue
			}
			merged = append(merged, d.mergePairs(v, path, depth+1)...)
			continue
		}
		if prev, dup := first[k.Value]; dup {
			child := mapKeyPath(path, k.Value)
			d.failAt(k, child, fmt.Errorf("given twice (first at line %d)", d.position(prev).line))
			continue
		}
		first[k.Value] = k
		explicit = append(explicit, pair{k, v})
	}
	for _, kv := range merged {
		if _, ok := first[kv.key.Value]; ok {
			continue
		}
		first[kv.key.Value] = kv.key
		explicit = append(explicit, kv)
	}
	return explicit
}

func (d *document) mergePairs(v *yaml.Node, path string, depth int) []pair {
	v = resolve(v)
	if v == nil || !d.spend() {
		return nil
	}
	switch v.Kind {
	case yaml.MappingNode:
		return d.pairs(v, path, depth)
	case yaml.SequenceNode:
		var out []pair
		for _, item := range v.Content {
			if item = resolve(item); item != nil && item.Kind == yaml.MappingNode {
				out = append(out, d.pairs(item, path, depth)...)
			} else if item != nil {
				d.failAt(item, path, fmt.Errorf("a merge (<<) takes mappings, got %s", describe(item)))
			}
		}
		return out
	}
	d.failAt(v, path, fmt.Errorf("a merge (<<) takes a mapping, got %s", describe(v)))
	return nil
}

// checkQuoting warns about a plain scalar read into a string field that
// Kubernetes' YAML decoder (YAML 1.1, sigs.k8s.io/yaml) would turn into
// another string: 1.10 becomes "1.1", yes becomes "true".
func (d *document) checkQuoting(n *yaml.Node, path string) {
	if n.Style != 0 && n.Style != yaml.TaggedStyle {
		return
	}
	var other string
	switch n.ShortTag() {
	case "!!float":
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err != nil {
			return
		}
		other = strconv.FormatFloat(f, 'g', -1, 32)
	case "!!int":
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if err != nil {
			return
		}
		other = strconv.FormatInt(i, 10)
	case "!!str":
		if b, ok := yaml11Bool(n.Value); ok {
			other = strconv.FormatBool(b)
		}
	}
	if other != "" && other != n.Value {
		d.warnf(path, "unquoted %s is read as %q by Kubernetes tools; quote it to keep it as written", n.Value, other)
	}
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// isZero reports a value that sets nothing: null, false, "", [] or {}.
func isZero(n *yaml.Node) bool {
	n = resolve(n)
	if n == nil {
		return true
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if isNull(n) || n.Value == "" {
			return true
		}
		b, ok := parseBool(n.Value)
		return ok && !b && n.ShortTag() == "!!bool"
	case yaml.MappingNode, yaml.SequenceNode:
		return len(n.Content) == 0
	}
	return false
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

func parseBool(s string) (bool, bool) {
	switch s {
	case "true", "True", "TRUE":
		return true, true
	case "false", "False", "FALSE":
		return false, true
	}
	return yaml11Bool(s)
}

// yaml11Bool reads the booleans of YAML 1.1 that YAML 1.2 reads as strings.
func yaml11Bool(s string) (bool, bool) {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON":
		return true, true
	case "n", "N", "no", "No", "NO", "off", "Off", "OFF":
		return false, true
	}
	return false, false
}

// jsonFields returns the JSON names of the fields of struct type t, with
// inlined embedded structs flattened.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := make(map[string]reflect.Type)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// unknownField is the error of a field that is in neither hoist's nor
// Flux's API, with the closest known name as a suggestion.
func unknownField(key string, fields map[string]reflect.Type) error {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	sort.Strings(names)
	best, bestDist := "", 3
	for _, name := range names {
		dist := editDistance(strings.ToLower(key), strings.ToLower(name))
		if strings.EqualFold(key, name) {
			dist = 0
		}
		if dist < bestDist {
			best, bestDist = name, dist
		}
	}
	if best != "" {
		return fmt.Errorf("unknown field %q; did you mean %q?", key, best)
	}
	return fmt.Errorf("unknown field %q", key)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// mapKeyPath is the path of a map entry: labels.app, or
// annotations["hoist.dev/policy"] when the key is not a plain name.
func mapKeyPath(path, key string) string {
	plain := key != ""
	for _, r := range key {
		if r != '_' && r != '-' && (r < '0' || r > '9') && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			plain = false
			break
		}
	}
	if plain {
		return joinPath(path, key)
	}
	return fmt.Sprintf("%s[%q]", path, key)
}

func parentPath(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndex(path, "["); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[:i]
	}
	return ""
}
