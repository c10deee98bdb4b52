package registry

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// decodeTagList reads the tags of a tag list page ({"name": ..., "tags":
// [...]}) as encoding/json would into struct{ Tags []string }, and faster:
// a page of 1,000 tags is read with one allocation a tag and no
// reflection. Anything the fast path does not handle (escapes in a string,
// non-ASCII bytes, numbers, nested objects, malformed input) is left to
// encoding/json, so the result and the errors are encoding/json's.
func decodeTagList(body []byte) ([]string, error) {
	if tags, ok := decodeTagListFast(body); ok {
		return tags, nil
	}
	var parsed struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(body, &parsed); err != nil {
		return nil, err
	}
	return parsed.Tags, nil
}

// decodeTagListFast handles an object whose values are plain strings, null
// or arrays of plain strings (printable ASCII, no escapes), with any JSON
// whitespace; ok is false for anything else.
func decodeTagListFast(b []byte) (tags []string, ok bool) {
	p := tagListParser{b: b}
	p.space()
	if !p.eat('{') {
		return nil, false
	}
	p.space()
	if p.eat('}') {
		return nil, p.end()
	}
	for {
		p.space()
		key, ok := p.plainString()
		if !ok {
			return nil, false
		}
		p.space()
		if !p.eat(':') {
			return nil, false
		}
		p.space()
		// encoding/json matches field names case-insensitively; the
		// fast path only knows "tags" as registries send it, and leaves
		// other spellings of it to encoding/json.
		isTags := string(key) == "tags"
		if !isTags && len(key) == 4 && (key[0]|0x20) == 't' && (key[1]|0x20) == 'a' && (key[2]|0x20) == 'g' && (key[3]|0x20) == 's' {
			return nil, false
		}
		switch {
		case p.peek('"'):
			if isTags {
				return nil, false // a string into []string: encoding/json's error
			}
			if _, ok := p.plainString(); !ok {
				return nil, false
			}
		case p.peekWord("null"):
			p.i += 4
			if isTags {
				tags = nil
			}
		case p.peek('['):
			list, ok := p.stringArray(isTags)
			if !ok {
				return nil, false
			}
			if isTags {
				tags = list
			}
		default:
			return nil, false
		}
		p.space()
		if p.eat('}') {
			return tags, p.end()
		}
		if !p.eat(',') {
			return nil, false
		}
	}
}

type tagListParser struct {
	b []byte
	i int
}

func (p *tagListParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *tagListParser) peek(c byte) bool { return p.i < len(p.b) && p.b[p.i] == c }

func (p *tagListParser) peekWord(w string) bool {
	return len(p.b)-p.i >= len(w) && string(p.b[p.i:p.i+len(w)]) == w
}

func (p *tagListParser) eat(c byte) bool {
	if p.peek(c) {
		p.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (p *tagListParser) end() bool {
	p.space()
	return p.i == len(p.b)
}

// plainString reads a string of printable ASCII without escapes and
// returns its bytes (a slice of the input).
func (p *tagListParser) plainString() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// stringArray reads an array of plain strings; keep says whether to return
// them (the tags) or only to check them (another field).
func (p *tagListParser) stringArray(keep bool) ([]string, bool) {
	p.i++              // '['
	list := []string{} // [] is an empty list, not null
	p.space()
	if p.eat(']') {
		return list, true
	}
	if keep {
		// Allocate the list once: count the quotes up to the first ']'
		// (an estimate, since a tag may hold one).
		if end := bytes.IndexByte(p.b[p.i:], ']'); end > 0 {
			list = make([]string, 0, bytes.Count(p.b[p.i:p.i+end], []byte{'"'})/2)
		}
	}
	for {
		p.space()
		s, ok := p.plainString()
		if !ok {
			return nil, false
		}
		if keep {
			// One string a tag, not substrings of one: a selected tag
			// must not keep the whole page alive.
			list = append(list, string(s))
		}
		p.space()
		if p.eat(']') {
			return list, true
		}
		if !p.eat(',') {
			return nil, false
		}
	}
}
