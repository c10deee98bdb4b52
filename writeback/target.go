package writeback

import (
	"strings"

	"github.com/hoist-dev/hoist/policy"
)

// File is one input file of the pure API.
type File struct {
	// Path is slash-separated and relative to the root of the tree.
	Path string
	// Data is the file's content, as read.
	Data []byte
}

// Part says which part of a selected reference a target holds.
type Part string

// The parts. PartFull, PartTag, PartName and PartDigest are Flux's (a marker
// without suffix, :tag, :name, :digest). PartRegistry and PartRepository are
// hoist extensions for Helm charts that split the name in two
// (image.registry and image.repository).
const (
	// PartFull is the whole reference: name:tag, name:tag@digest or
	// name@digest.
	PartFull Part = "full"
	// PartTag is the tag only.
	PartTag Part = "tag"
	// PartName is the name as supplied (registry and repository), without
	// tag and digest.
	PartName Part = "name"
	// PartDigest is the digest, such as sha256:0123....
	PartDigest Part = "digest"
	// PartRegistry is the registry host of the name (docker.io when the
	// name has none).
	PartRegistry Part = "registry"
	// PartRepository is the name without its registry host.
	PartRepository Part = "repository"
)

// Style is how a scalar is written. Only these three can be edited in place.
type Style string

// The styles.
const (
	StylePlain  Style = "plain"
	StyleSingle Style = "single"
	StyleDouble Style = "double"
)

// Span is a half-open byte range [Start, End) in a file.
type Span struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// Object identifies the Kubernetes object (or document) a target is in.
// It is empty for documents without apiVersion and kind, such as Helm
// values files.
type Object struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
}

// String returns "KIND NAMESPACE/NAME", "KIND NAME" without a namespace,
// or "" for the zero Object: how the default commit message names it.
func (o Object) String() string {
	name := o.Name
	if o.Namespace != "" {
		name = o.Namespace + "/" + o.Name
	}
	return strings.TrimSpace(o.Kind + " " + name)
}

// Inline describes the policy an annotated workload sets for one of its
// containers (see docs/markers-and-annotations.md).
type Inline struct {
	// Container is the container's name.
	Container string `json:"container"`
	// Init is true for an init container.
	Init bool `json:"init,omitempty"`
	// Annotation is the key the policy was read from: hoist.dev/policy.NAME,
	// hoist.dev/policy, fluxcd.io/tag.NAME or keel.sh/policy.
	Annotation string `json:"annotation"`
	// Shorthand is the annotation's value, such as "semver:~1.4" or Keel's
	// "minor"; policy.ParseShorthand reads it.
	Shorthand string `json:"shorthand"`
	// Repository is the name of the container's current image as written
	// (registry and repository, no tag or digest): the repository to scan.
	Repository string `json:"repository"`
	// Tag is the current image's tag, "" when it has none.
	Tag string `json:"tag,omitempty"`
	// Digest is the current image's digest, "" when it has none.
	Digest string `json:"digest,omitempty"`
}

// Spec parses the shorthand with policy.ParseShorthand, with the current tag
// as the reference point of rules relative to it (Keel's major, minor,
// patch).
func (in Inline) Spec() (policy.Spec, error) {
	return policy.ParseShorthand(in.Shorthand, in.Tag)
}

// Target is one value that a selection may rewrite: a scalar in a file.
type Target struct {
	// File is the slash-separated path relative to the root of the tree.
	File string `json:"file"`
	// Format names the file format that found the target ("yaml").
	Format string `json:"format"`
	// Line and Column locate the first byte of Span: 1-based, the column
	// counted in characters (runes), as editors and the YAML parser do.
	Line   int `json:"line"`
	Column int `json:"column"`
	// Span is the scalar's bytes in the file, quotes included.
	Span Span `json:"span"`
	// Style is the scalar's quoting.
	Style Style `json:"style"`
	// Flow is true inside a flow collection ({...} or [...]), where a plain
	// scalar cannot hold some characters.
	Flow bool `json:"flow,omitempty"`
	// Value is the scalar's current value (unquoted).
	Value string `json:"value"`
	// Object is the object the scalar is in.
	Object Object `json:"object"`
	// Field is the path of the scalar in its object, such as
	// spec.template.spec.containers[name=app].image.
	Field string `json:"field"`
	// Sum is the hex SHA-256 of the file's bytes as scanned. Write refuses
	// a file whose bytes no longer match.
	Sum string `json:"sum"`

	// Policy is the policy key the target follows: NAMESPACE:NAME for a
	// marker, or the key of an inline policy (see Inline and PolicyKey).
	Policy string `json:"policy"`
	// Part is the part of the selected reference the scalar holds.
	Part Part `json:"part"`
	// Marker is the marker's value as written, such as "apps:podinfo:tag"
	// (Flux calls it the setter); "" for an inline target.
	Marker string `json:"marker,omitempty"`
	// Inline is set for the container of an annotated workload.
	Inline *Inline `json:"inline,omitempty"`
	// Hold is set when the target is held as it is: its marker says
	// "hold": true, or its object carries the annotation hoist.dev/hold:
	// "true".
	Hold bool `json:"hold,omitempty"`
}

// PolicyKey returns the key of the target's entry in Selections: Policy.
//
// For a marker it is NAMESPACE:NAME. For an inline policy it is
// "inline:" + the current image as written + "#" + the shorthand, for
// example "inline:ghcr.io/a/b:1.4.0#semver:~1.4": two containers with the
// same image and the same annotation share one key (and one registry scan);
// the key changes when the image does.
func (t Target) PolicyKey() string { return t.Policy }

// inlineKey builds the policy key of an inline target.
func inlineKey(image, shorthand string) string {
	return "inline:" + image + "#" + shorthand
}
