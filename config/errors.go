package config

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every *Error: the configuration is not valid.
// Test for it with errors.Is.
var ErrInvalid = errors.New("invalid configuration")

// Error is one problem in one document. It wraps ErrInvalid and Err.
type Error struct {
	// File is the path of the file, as given to Load or Parse.
	File string
	// Line and Column are 1-based; 0 when unknown.
	Line, Column int
	// Field is the path of the field in the document, for example
	// "spec.filterTags.pattern" or "spec.resources[0].kind"; empty when the
	// problem is the document itself.
	Field string
	// Err is the cause.
	Err error
}

// Error returns FILE:LINE: FIELD: CAUSE.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString(ErrInvalid.Error())
	}
	return b.String()
}

// Unwrap returns ErrInvalid and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Err}
}

// Errors is every problem found by one Load or Parse, in file order and,
// within a file, by line.
type Errors []*Error

// Error returns one line per problem.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the errors, so that errors.Is(err, ErrInvalid) and
// errors.As(err, &configErr) work.
func (es Errors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// Warning is a field that is accepted but not acted on, or a value that other
// tools read differently; it does not make the configuration invalid.
type Warning struct {
	File         string
	Line, Column int
	Field        string
	Message      string
}

// String returns FILE:LINE: FIELD: MESSAGE.
func (w Warning) String() string {
	e := Error{File: w.File, Line: w.Line, Field: w.Field, Err: errors.New(w.Message)}
	return e.Error()
}
