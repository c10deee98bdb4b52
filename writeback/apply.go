package writeback

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
)

// Apply returns data with the changes of one file spliced in, after checking
// that data is what the changes were planned against (their Sum) and that
// the result reads back as planned (only the planned values differ). It is
// pure; data is not modified.
func Apply(data []byte, changes []Change) ([]byte, error) {
	if len(changes) == 0 {
		return data, nil
	}
	cs := slices.Clone(changes)
	slices.SortFunc(cs, func(a, b Change) int { return cmp.Compare(a.Span.Start, b.Span.Start) })
	file := cs[0].File
	if sum := cs[0].Sum; sum != "" {
		got := sha256.Sum256(data)
		if hex.EncodeToString(got[:]) != sum {
			return nil, &FileError{File: file, Err: ErrStale}
		}
	}
	size := len(data)
	for i, c := range cs {
		if c.File != file || c.Format != cs[0].Format {
			return nil, &FileError{File: file, Err: fmt.Errorf("%w: changes of %q and %q applied together", ErrConflict, file, c.File)}
		}
		if c.Span.Start < 0 || c.Span.End > len(data) || c.Span.Start >= c.Span.End ||
			(i > 0 && c.Span.Start < cs[i-1].Span.End) {
			return nil, &FileError{File: file, Line: c.Line, Err: fmt.Errorf("%w: bad span %d-%d", ErrConflict, c.Span.Start, c.Span.End)}
		}
		size += len(c.Text) - (c.Span.End - c.Span.Start)
	}
	out := make([]byte, 0, size)
	prev := 0
	for _, c := range cs {
		out = append(out, data[prev:c.Span.Start]...)
		out = append(out, c.Text...)
		prev = c.Span.End
	}
	out = append(out, data[prev:]...)
	f := formatNamed(cs[0].Format)
	if f == nil {
		return nil, &FileError{File: file, Err: fmt.Errorf("%w: unknown format %q", ErrUnsupported, cs[0].Format)}
	}
	if err := f.verify(data, out, cs); err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			return nil, fe
		}
		return nil, &FileError{File: file, Err: err}
	}
	return out, nil
}
