package git

import (
	"fmt"
	"sort"
	"strings"
	"text/template"

	"github.com/hoist-dev/hoist/writeback"
)

// NamespacedName names an object, such as the automation. Its String form is
// "namespace/name", as Kubernetes' types.NamespacedName prints.
type NamespacedName struct {
	Namespace string
	Name      string
}

// String returns "namespace/name".
func (n NamespacedName) String() string { return n.Namespace + "/" + n.Name }

// The changes of a commit are writeback's: the planning's Change flows
// unchanged into the message, the pull request and the JSON output. Its
// OldValue and NewValue methods, and its Setter, are the names of Flux's
// template data; its Object has Flux's $obj.Kind, $obj.Name, ...

// ObjectChanges maps each object of a file to its changes.
type ObjectChanges map[writeback.Object][]writeback.Change

// Result is what changed, grouped by file and object, as Flux's
// update.ResultV2 (the .Changed of the template data).
type Result struct {
	// FileChanges maps a file path to the changes of each of its objects.
	FileChanges map[string]ObjectChanges
}

// NewResult groups changes by file and object. It does not modify changes.
func NewResult(changes []writeback.Change) Result {
	r := Result{FileChanges: map[string]ObjectChanges{}}
	for _, c := range changes {
		oc := r.FileChanges[c.File]
		if oc == nil {
			oc = ObjectChanges{}
			r.FileChanges[c.File] = oc
		}
		oc[c.Object] = append(oc[c.Object], c)
	}
	return r
}

// Changes returns every change, ordered by file, line, object and field.
func (r Result) Changes() []writeback.Change {
	var out []writeback.Change
	for _, oc := range r.FileChanges {
		for _, cs := range oc {
			out = append(out, cs...)
		}
	}
	sortChanges(out)
	return out
}

// Objects returns the changes of every object across files, as Flux's
// ResultV2.Objects.
func (r Result) Objects() map[writeback.Object][]writeback.Change {
	out := map[writeback.Object][]writeback.Change{}
	for _, c := range r.Changes() {
		out[c.Object] = append(out[c.Object], c)
	}
	return out
}

func sortChanges(cs []writeback.Change) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Object != b.Object {
			return a.Object.String() < b.Object.String()
		}
		return a.Field < b.Field
	})
}

// TemplateData is the value a commit message template is executed with.
// The names are those of Flux's v1beta2 ImageUpdateAutomation, so Flux
// templates render unchanged.
type TemplateData struct {
	// AutomationObject names the automation ("namespace/name").
	AutomationObject NamespacedName
	// Changed holds the changes.
	Changed Result
	// Values are the user's values from the automation
	// (messageTemplateValues).
	Values map[string]string
	// AppName, AppNamespace and AppChanges are Argo CD Image Updater's
	// template data, set for an automation converted from an Argo CD
	// Application: its name and namespace, and one entry per image.
	AppName      string
	AppNamespace string
	AppChanges   []AppChange
}

// AppChange is one image of an Argo CD Application that changed, with the
// field names of Argo CD Image Updater's commit message templates.
type AppChange struct {
	Image  string
	OldTag string
	NewTag string
}

// appChanges returns one AppChange per image of changes that carry one,
// in the order of the changes.
func appChanges(changes []writeback.Change) []AppChange {
	var out []AppChange
	at := map[string]int{}
	for _, c := range changes {
		if c.Image == "" {
			continue
		}
		i, ok := at[c.Image]
		if !ok {
			at[c.Image] = len(out)
			out = append(out, AppChange{Image: c.Image, OldTag: c.OldTag, NewTag: c.NewTag})
			continue
		}
		if c.NewTag != "" {
			out[i].OldTag, out[i].NewTag = c.OldTag, c.NewTag
		}
	}
	return out
}

// DefaultMessageTemplate is the commit message used when the automation has
// no template: a subject line, then one line per change.
const DefaultMessageTemplate = `{{ $changes := .Changed.Changes -}}
Update {{ len $changes }} image reference{{ if ne (len $changes) 1 }}s{{ end }}
{{- with .AutomationObject.Name }} ({{ $.AutomationObject }}){{ end }}

{{ range $c := $changes -}}
- {{ $c.OldValue }} → {{ $c.NewValue }} in {{ $c.File }}{{ if $c.Line }}:{{ $c.Line }}{{ end }}
{{- if $c.Object.Kind }} ({{ $c.Object }}){{ end }}
{{ end -}}
`

// RenderMessage executes the Go text/template tmpl (DefaultMessageTemplate
// when empty) with data. Besides text/template's builtins, templates may
// use the sprig functions that Flux offers, except those that read the
// environment or the network; see TemplateFuncs.
// The result ends with exactly one newline. A template that renders more
// than MaxMessageSize bytes (a range over a long list, a loop of repeat) is
// stopped there and fails with ErrMessageTooLarge.
func RenderMessage(tmpl string, data TemplateData) (string, error) {
	funcs := TemplateFuncs()
	if tmpl == "" {
		tmpl = DefaultMessageTemplate
	}
	t, err := template.New("commit message").Funcs(funcs).Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("parsing commit message template: %w", err)
	}
	b := limitedWriter{limit: MaxMessageSize}
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("rendering commit message template: %w", err)
	}
	msg := strings.TrimRight(b.b.String(), "\n \t") + "\n"
	if strings.TrimSpace(msg) == "" {
		return "", fmt.Errorf("rendering commit message template: %w: the message is empty", ErrInvalidOptions)
	}
	return msg, nil
}

// MaxMessageSize is the most bytes a commit message template may render
// (64 KiB): far more than a useful message, and a bound on what a template
// that loops can make.
const MaxMessageSize = 64 << 10

// limitedWriter collects at most limit bytes; a write beyond fails with
// ErrMessageTooLarge, which stops the template.
type limitedWriter struct {
	b     strings.Builder
	limit int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.limit {
		return 0, fmt.Errorf("%w: more than the cap of %d bytes", ErrMessageTooLarge, w.limit)
	}
	return w.b.Write(p)
}
