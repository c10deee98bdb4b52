package writeback

import (
	"cmp"
	"errors"
	"slices"
)

// ScanResult is what a scan found.
type ScanResult struct {
	// Targets, sorted by file and position.
	Targets []Target
	// Errors holds the files that could not be read or parsed, or hold a
	// target that cannot be edited in place; they yield no targets and are
	// left untouched. Sorted by file.
	Errors []*FileError
	// Warnings holds what was skipped but is worth knowing, such as a
	// dangling symbolic link (ErrDanglingSymlink). Sorted by file.
	Warnings []*FileError
	// Stats counts the work done.
	Stats ScanStats
}

// ScanStats counts the work of a scan.
type ScanStats struct {
	// Files is the number of files considered (names that match).
	Files int
	// Read is the number of files read in this scan; with an Index, files
	// known unchanged are not read.
	Read int
	// Parsed is the number of files parsed (those the byte screen let
	// through).
	Parsed int
}

// Scan finds the targets in files. It is pure. Each file is read by the
// format its name says (.yaml and .yml are YAML; Jsonnet, CUE, HCL, TOML,
// .env files and Dockerfiles are text; any other name is read as YAML,
// since the caller named it); a file that cannot contain a target
// (a fast byte search) is not parsed.
func Scan(files []File) ScanResult {
	var res ScanResult
	for _, f := range files {
		res.Stats.Files++
		res.Stats.Read++
		ts, parsed, err := scanFile(f.Path, f.Data, formatFor(f.Path, true))
		if parsed {
			res.Stats.Parsed++
		}
		if err != nil {
			res.Errors = append(res.Errors, err)
			continue
		}
		res.Targets = append(res.Targets, ts...)
	}
	sortResult(&res)
	return res
}

// scanFile screens and scans one file.
func scanFile(path string, data []byte, f format) ([]Target, bool, *FileError) {
	if f == nil || !f.screen(data) {
		return nil, false, nil
	}
	ts, err := f.targets(path, data)
	if err != nil {
		var fe *FileError
		if !errors.As(err, &fe) {
			fe = &FileError{File: path, Err: err}
		}
		return nil, true, fe
	}
	return ts, true, nil
}

func sortResult(res *ScanResult) {
	slices.SortStableFunc(res.Targets, func(a, b Target) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Span.Start, b.Span.Start))
	})
	byFile := func(a, b *FileError) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line))
	}
	slices.SortStableFunc(res.Errors, byFile)
	slices.SortStableFunc(res.Warnings, byFile)
}
