package writeback

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/go-jsonnet"
)

const textFormatName = "text"

// MaxTextSize is the largest file the text format reads: a larger file
// holding a marker is refused (ErrUnsupported), so that a hostile
// repository cannot make the Jsonnet check parse without bound.
const MaxTextSize = 4 << 20

// textFormat reads markers in files of any language, where a marker is a
// line comment (# or //) that holds Flux's marker object:
//
//	local image = 'ghcr.io/acme/app:1.2.0';  // {"$imagepolicy": "apps:app"}
//	IMAGE=ghcr.io/acme/app:1.2.0 # {"$imagepolicy": "apps:app"}
//
// The target is the quoted string or the bare token that the marker ends
// (before it on the same line, after blanks and one trailing comma or
// semicolon). A marker alone on its line sets the image of the FROM
// instruction on the next line, the one form a Dockerfile allows (Docker
// reads # as a comment only at the start of a line). Jsonnet files (.jsonnet,
// .libsonnet) are parsed after the edit, and refused when they no longer
// parse.
type textFormat struct{}

func (textFormat) name() string { return textFormatName }

func (textFormat) screen(data []byte) bool {
	return bytes.IndexByte(data, '$') >= 0 && bytes.Contains(data, []byte(markerKey))
}

// textFile reports whether the base name of p is one the text format reads
// without being asked: Jsonnet, CUE, HCL and Terraform, TOML, .env files and
// Dockerfiles (Dockerfile, Containerfile, Dockerfile.NAME, NAME.dockerfile).
func textFile(p string) bool {
	base := path.Base(p)
	switch path.Ext(base) {
	case ".jsonnet", ".libsonnet", ".cue", ".hcl", ".tf", ".tfvars", ".toml", ".env", ".dockerfile", ".containerfile":
		return true
	}
	switch {
	case base == ".env", base == "Dockerfile", base == "Containerfile",
		strings.HasPrefix(base, "Dockerfile."), strings.HasPrefix(base, "Containerfile."):
		return true
	}
	return false
}

// isDockerfile reports whether the file at p is a Dockerfile.
func isDockerfile(p string) bool {
	base := path.Base(p)
	switch path.Ext(base) {
	case ".dockerfile", ".containerfile":
		return true
	}
	return base == "Dockerfile" || base == "Containerfile" ||
		strings.HasPrefix(base, "Dockerfile.") || strings.HasPrefix(base, "Containerfile.")
}

// isJsonnet reports whether the file at p is Jsonnet.
func isJsonnet(p string) bool {
	switch path.Ext(p) {
	case ".jsonnet", ".libsonnet":
		return true
	}
	return false
}

// textMarker is a marker found on one line.
type textMarker struct {
	// value is the marker's $imagepolicy value.
	value string
	// hold is the marker's "hold": true (the value is kept as it is).
	hold bool
	// at is the offset of the comment opener (# or //) in the line.
	at int
}

// findTextMarker finds the marker comment of line: the first # or // that
// starts the line or follows a blank, and whose rest (after the opener's
// characters) is a marker object up to the end of the line.
func findTextMarker(line string) (textMarker, bool) {
	if !strings.Contains(line, markerKey) {
		return textMarker{}, false
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		slashes := c == '/' && i+1 < len(line) && line[i+1] == '/'
		if c != '#' && !slashes {
			continue
		}
		if i > 0 && line[i-1] != ' ' && line[i-1] != '\t' {
			continue
		}
		rest := strings.TrimLeft(line[i:], "#/")
		rest = strings.TrimSpace(rest)
		if !strings.HasPrefix(rest, "{") || !strings.HasSuffix(rest, "}") {
			continue
		}
		if v, hold, ok := parseMarkerHold(rest); ok {
			return textMarker{value: v, hold: hold, at: i}, true
		}
	}
	return textMarker{}, false
}

// isRefByte reports whether c may be part of a bare image reference.
func isRefByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '@'
}

// textValue finds the value that ends at end in line (exclusive): a quoted
// string (quotes included in the span) or a bare token. The span is
// relative to the line.
func textValue(line string, end int) (Span, Style, string, error) {
	if end == 0 {
		return Span{}, "", "", fmt.Errorf("%w: the marker ends no value", ErrUnsupported)
	}
	if q := line[end-1]; q == '"' || q == '\'' {
		for i := end - 2; i >= 0; i-- {
			if line[i] != q {
				continue
			}
			bs := 0
			for j := i - 1; j >= 0 && line[j] == '\\'; j-- {
				bs++
			}
			if bs%2 == 1 {
				continue // an escaped quote
			}
			v := line[i+1 : end-1]
			if strings.ContainsRune(v, '\\') {
				return Span{}, "", "", fmt.Errorf("%w: a string with escape sequences", ErrUnsupported)
			}
			style := StyleDouble
			if q == '\'' {
				style = StyleSingle
			}
			return Span{Start: i, End: end}, style, v, nil
		}
		return Span{}, "", "", fmt.Errorf("%w: a string that does not start on the marker's line", ErrUnsupported)
	}
	i := end
	for i > 0 && isRefByte(line[i-1]) {
		i--
	}
	if i == end {
		return Span{}, "", "", fmt.Errorf("%w: the marker ends %q, neither a quoted string nor a bare reference", ErrUnsupported, line[end-1:end])
	}
	return Span{Start: i, End: end}, StylePlain, line[i:end], nil
}

// fromImage finds the image of a Dockerfile FROM instruction on line: the
// first argument that is not a --flag. ok is false when line is no FROM.
func fromImage(line string) (Span, string, bool) {
	i := len(line) - len(strings.TrimLeft(line, " \t"))
	if len(line) < i+5 || !strings.EqualFold(line[i:i+4], "FROM") || (line[i+4] != ' ' && line[i+4] != '\t') {
		return Span{}, "", false
	}
	i += 4
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		if i == j {
			return Span{}, "", false
		}
		if !strings.HasPrefix(line[i:j], "--") {
			return Span{Start: i, End: j}, line[i:j], true
		}
		i = j
	}
}

func (textFormat) targets(file string, data []byte) ([]Target, error) {
	ts, err := scanText(file, data)
	if err != nil {
		return nil, err
	}
	if len(ts) > 0 && isJsonnet(file) {
		if err := parseJsonnet(file, data); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// scanText finds the markers of a file and their values.
func scanText(file string, data []byte) ([]Target, error) {
	if len(data) > MaxTextSize {
		return nil, &FileError{File: file, Err: fmt.Errorf("%w: %d bytes, more than the %d bytes of a text file", ErrUnsupported, len(data), MaxTextSize)}
	}
	if isUTF16(data) || !utf8.Valid(data) {
		return nil, &FileError{File: file, Err: fmt.Errorf("%w: not UTF-8", ErrUnsupported)}
	}
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	var ts []Target
	lineNo, off := 0, 0
	text := string(data)
	// pending is a marker alone on its line, waiting for a FROM line.
	var pending *textMarker
	pendingLine := 0
	dockerfile := isDockerfile(file)
	for off < len(text) {
		lineNo++
		end := strings.IndexByte(text[off:], '\n')
		next := len(text)
		if end >= 0 {
			next = off + end + 1
			end = off + end
		} else {
			end = len(text)
		}
		line := strings.TrimSuffix(text[off:end], "\r")
		start := off
		off = next
		if pending != nil {
			if strings.TrimSpace(line) == "" {
				continue
			}
			sp, v, ok := fromImage(line)
			if !ok {
				return nil, &FileError{File: file, Line: pendingLine, Err: fmt.Errorf("%w: a marker alone on its line must be followed by a FROM line", ErrUnsupported)}
			}
			ts = append(ts, textTarget(file, hexSum, lineNo, start, line, sp, StylePlain, v, *pending))
			pending = nil
			if _, ok := findTextMarker(line); ok {
				return nil, &FileError{File: file, Line: lineNo, Err: fmt.Errorf("%w: two markers for one value", ErrUnsupported)}
			}
			continue
		}
		m, ok := findTextMarker(line)
		if !ok {
			continue
		}
		before := strings.TrimRight(line[:m.at], " \t")
		if strings.TrimSpace(before) == "" {
			pending, pendingLine = &m, lineNo
			continue
		}
		if dockerfile {
			return nil, &FileError{File: file, Line: lineNo, Err: fmt.Errorf("%w: a marker after an instruction (Docker reads # as a comment only at the start of a line): put it on the line before FROM", ErrUnsupported)}
		}
		if n := len(before); before[n-1] == ',' || before[n-1] == ';' {
			before = strings.TrimRight(before[:n-1], " \t")
		}
		sp, style, v, err := textValue(line, len(before))
		if err != nil {
			return nil, &FileError{File: file, Line: lineNo, Err: err}
		}
		ts = append(ts, textTarget(file, hexSum, lineNo, start, line, sp, style, v, m))
	}
	if pending != nil {
		return nil, &FileError{File: file, Line: pendingLine, Err: fmt.Errorf("%w: a marker alone on its line must be followed by a FROM line", ErrUnsupported)}
	}
	return ts, nil
}

// textTarget builds the target of a value at sp in line, which starts at
// byte start of the file.
func textTarget(file, sum string, lineNo, start int, line string, sp Span, style Style, value string, m textMarker) Target {
	key, part := splitMarker(m.value)
	return Target{
		File:   file,
		Format: textFormatName,
		Line:   lineNo,
		Column: utf8.RuneCountInString(line[:sp.Start]) + 1,
		Span:   Span{Start: start + sp.Start, End: start + sp.End},
		Style:  style,
		Value:  value,
		Sum:    sum,
		Policy: key,
		Part:   part,
		Marker: m.value,
		Hold:   m.hold,
	}
}

func (textFormat) encode(t Target, value string) (string, error) {
	if value == "" || strings.ContainsAny(value, "\"'\\\r\n\t #") {
		return "", fmt.Errorf("%w: %q cannot be written in place", ErrUnsupported, value)
	}
	switch t.Style {
	case StyleDouble:
		return `"` + value + `"`, nil
	case StyleSingle:
		return `'` + value + `'`, nil
	}
	for i := 0; i < len(value); i++ {
		if !isRefByte(value[i]) {
			return "", fmt.Errorf("%w: %q cannot be written as a bare token", ErrUnsupported, value)
		}
	}
	return value, nil
}

// verify scans the edited bytes again: the same markers on the same lines,
// holding the planned values where a change was planned and the old ones
// elsewhere. A Jsonnet file must parse.
func (f textFormat) verify(old, edited []byte, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	file := changes[0].File
	ot, err := scanText(file, old)
	if err != nil {
		return fmt.Errorf("%w: original: %v", ErrVerify, err)
	}
	nt, err := scanText(file, edited)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrVerify, err)
	}
	if len(ot) != len(nt) {
		return fmt.Errorf("%w: %d markers became %d", ErrVerify, len(ot), len(nt))
	}
	want := make(map[int]string, len(changes)) // by span start in old
	for _, c := range changes {
		want[c.Span.Start] = c.New
	}
	for i := range ot {
		a, b := ot[i], nt[i]
		if a.Line != b.Line || a.Marker != b.Marker || a.Style != b.Style {
			return fmt.Errorf("%w: the marker of line %d moved or changed", ErrVerify, a.Line)
		}
		v, planned := want[a.Span.Start]
		if !planned {
			v = a.Value
		}
		if b.Value != v {
			return fmt.Errorf("%w: unplanned change of %q to %q at line %d", ErrVerify, a.Value, b.Value, b.Line)
		}
		delete(want, a.Span.Start)
	}
	if len(want) > 0 {
		return fmt.Errorf("%w: %d of %s read back", ErrVerify, len(changes)-len(want), count(len(changes), "change", "changes"))
	}
	if isJsonnet(file) {
		if err := parseJsonnet(file, edited); err != nil {
			return err
		}
	}
	return nil
}

// parseJsonnet parses data as Jsonnet, without evaluating it; a failure
// is a *FileError with the line the parser names. The parser is not ours: a
// panic on hostile input refuses the file.
func parseJsonnet(file string, data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &FileError{File: file, Err: fmt.Errorf("%w: Jsonnet parser panic: %v", ErrParse, r)}
		}
	}()
	if _, err := jsonnet.SnippetToAST(file, string(data)); err != nil {
		// The message is "FILE:LINE:COLUMN[-COLUMN] TEXT".
		msg := strings.TrimPrefix(err.Error(), file+":")
		line := 0
		if n, rest, ok := strings.Cut(msg, ":"); ok {
			if v, err := strconv.Atoi(n); err == nil {
				line = v
				if _, text, ok := strings.Cut(rest, " "); ok {
					msg = text
				}
			}
		}
		return &FileError{File: file, Line: line, Err: fmt.Errorf("%w: Jsonnet: %s", ErrParse, msg)}
	}
	return nil
}
