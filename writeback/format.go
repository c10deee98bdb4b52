package writeback

import (
	"path"

	"github.com/gobwas/glob"
)

// A format finds targets in the bytes of one kind of file and knows how to
// write a value back into it: YAML, and text (markers in comments of files
// of any language: Jsonnet, CUE, HCL, TOML, .env, Dockerfiles; see
// docs/markers-and-annotations.md). Scanning, planning, applying and
// writing work on Targets and Changes and know nothing of either.
type format interface {
	// name is the Target.Format of the targets it finds.
	name() string
	// screen reports whether data may hold a target. It is a fast byte
	// search that runs on every file of a tree, so it must not parse.
	screen(data []byte) bool
	// targets finds the targets of one file. A failure refuses the whole
	// file: it is returned as a *FileError and no target is returned.
	targets(path string, data []byte) ([]Target, error)
	// encode returns the text to write over t.Span so that the file reads
	// value there, keeping t's quoting style where it can.
	encode(t Target, value string) (string, error)
	// verify checks that edited reads like old except for the values of
	// the changes (sorted by span, all of one file).
	verify(old, edited []byte, changes []Change) error
}

// formatFor returns the format of the file at p (a slash path), or nil when
// no format reads it. YAML files are those named *.yaml and *.yml, and
// Kustomize's Kustomization (no extension), the names Flux reads; text
// files are those textFile names. Another file the caller named explicitly
// is read as YAML.
func formatFor(p string, explicit bool) format {
	return formatOf(p, explicit, nil)
}

// formatOf is formatFor with the globs of ScanOptions.Include: a file they
// match that is neither YAML nor a text file by its name is read by the
// text format.
func formatOf(p string, explicit bool, include []glob.Glob) format {
	switch path.Ext(p) {
	case ".yaml", ".yml":
		return yamlFormat{}
	}
	if path.Base(p) == "Kustomization" {
		return yamlFormat{}
	}
	if textFile(p) {
		return textFormat{}
	}
	for _, g := range include {
		if g.Match(p) {
			return textFormat{}
		}
	}
	if explicit {
		return yamlFormat{}
	}
	return nil
}

// formatNamed returns the format with the given name, or nil.
func formatNamed(name string) format {
	switch name {
	case yamlFormatName, "":
		return yamlFormat{}
	case textFormatName:
		return textFormat{}
	}
	return nil
}
