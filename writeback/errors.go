package writeback

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrUnknownPolicy is returned (wrapped in a *FileError) by Plan for a target
// whose policy has no entry in the Selections.
var ErrUnknownPolicy = errors.New("unknown policy")

// ErrInvalidReference is returned (wrapped in a *FileError) by Plan when the
// value a target would receive is not a valid image reference, or when the
// selection lacks the part a target needs (a tag for :tag, a digest for
// :digest).
var ErrInvalidReference = errors.New("invalid image reference")

// ErrParse is returned (wrapped in a *FileError) for a file that does not
// parse. Such a file yields no targets and is left untouched.
var ErrParse = errors.New("file does not parse")

// ErrUnsupported is returned (wrapped in a *FileError) for a target hoist
// cannot edit byte-exactly: a block or multi-line scalar, or a file that is
// not UTF-8.
var ErrUnsupported = errors.New("unsupported target")

// ErrConflict is returned (wrapped in a *FileError) by Plan when two targets
// share one value (an anchor and its aliases) but want different values.
var ErrConflict = errors.New("conflicting values for one scalar")

// ErrStale is returned (wrapped in a *FileError) by Write and Preview when a
// file's bytes changed after it was scanned. Scan and plan again.
var ErrStale = errors.New("file changed since it was scanned")

// ErrOutsideRoot is returned (wrapped in a *FileError, or by ResolveIn) for
// a path or a symbolic link that leads outside the root of the tree.
var ErrOutsideRoot = errors.New("path leads outside the root")

// ErrDanglingSymlink is the cause of a ScanResult warning for a symbolic
// link, with the name of a file hoist reads, whose target does not exist.
// The link is skipped; the scan goes on.
var ErrDanglingSymlink = errors.New("dangling symbolic link skipped")

// ErrSymlink is returned (wrapped in a *FileError) by Write and Preview for
// a file that is a symbolic link: hoist does not write through links.
var ErrSymlink = errors.New("file is a symbolic link")

// ErrVerify is returned (wrapped in a *FileError) by Write, Preview and
// Apply when an edited file would not read back as planned (a value other
// than the planned ones would change). It guards against bugs; the file is
// left untouched.
var ErrVerify = errors.New("edited file does not read back as planned")

// FileError is a failure tied to a file and, when known, a line in it.
// It unwraps to one of the sentinel errors of this package, or to an I/O
// error.
type FileError struct {
	// File is the slash-separated path relative to the root of the tree.
	File string
	// Line is 1-based; 0 when the failure is not tied to a line.
	Line int
	// Field is the path of the field in its object, when known.
	Field string
	// Policy is the policy key of the target, when known.
	Policy string
	// Err is the cause.
	Err error
}

func (e *FileError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field != "" {
		loc += ": " + e.Field
	}
	if e.Policy != "" {
		return fmt.Sprintf("%s: policy %q: %v", loc, e.Policy, e.Err)
	}
	return fmt.Sprintf("%s: %v", loc, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// MarshalJSON writes the error in the shape of `hoist update -o json` (see
// docs/cli.md): {"file", "line", "error"} (and "policy" when known).
func (e *FileError) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		File   string `json:"file"`
		Line   int    `json:"line,omitempty"`
		Policy string `json:"policy,omitempty"`
		Error  string `json:"error"`
	}{e.File, e.Line, e.Policy, e.Err.Error()})
}
