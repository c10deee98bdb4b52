package writeback

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// refParts is a reference split as written: the name as supplied (no
// defaulting to docker.io or library/), the tag and the digest.
type refParts struct {
	name, tag, digest string
}

// splitRef splits NAME[:TAG][@DIGEST] without normalising NAME.
func splitRef(s string) refParts {
	var r refParts
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		r.digest, s = s[i+1:], s[:i]
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 && i > strings.LastIndexByte(s, '/') {
		r.tag, s = s[i+1:], s[:i]
	}
	r.name = s
	return r
}

// registry returns the registry host of the name, by Docker's rule (the
// first path component when it has a dot or a colon, or is localhost), or
// docker.io.
func (r refParts) registry() (host, repository string) {
	first, rest, ok := strings.Cut(r.name, "/")
	if ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first, rest
	}
	return "docker.io", r.name
}

// part returns one part of the reference for a target.
func (r refParts) part(p Part, full string) (string, error) {
	switch p {
	case PartFull, "":
		return full, nil
	case PartTag:
		if r.tag == "" {
			return "", fmt.Errorf("%w: %q has no tag for a :tag target", ErrInvalidReference, full)
		}
		return r.tag, nil
	case PartName:
		return r.name, nil
	case PartDigest:
		if r.digest == "" {
			return "", fmt.Errorf("%w: %q has no digest for a :digest target", ErrInvalidReference, full)
		}
		return r.digest, nil
	case PartRegistry:
		host, _ := r.registry()
		return host, nil
	case PartRepository:
		_, repo := r.registry()
		return repo, nil
	}
	return "", fmt.Errorf("%w: unknown part %q", ErrInvalidReference, p)
}

// parseRef validates a selected reference: the OCI distribution grammar as
// go-containerregistry's name package reads it, plus the rules it is lax
// about (a tag starts with a word character, path components are not empty
// and are separated by ., _, __ or dashes), and an explicit tag or digest.
func parseRef(s string) (refParts, error) {
	if _, err := name.ParseReference(s); err != nil {
		return refParts{}, fmt.Errorf("%w: %q: %v", ErrInvalidReference, s, err)
	}
	r := splitRef(s)
	if r.tag == "" && r.digest == "" {
		return refParts{}, fmt.Errorf("%w: %q has neither tag nor digest", ErrInvalidReference, s)
	}
	if r.tag != "" && !validTag(r.tag) {
		return refParts{}, fmt.Errorf("%w: %q: invalid tag %q", ErrInvalidReference, s, r.tag)
	}
	_, repo := r.registry()
	for _, c := range strings.Split(repo, "/") {
		if !validPathComponent(c) {
			return refParts{}, fmt.Errorf("%w: %q: invalid path component %q", ErrInvalidReference, s, c)
		}
	}
	return r, nil
}

// validTag checks [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func validTag(t string) bool {
	if len(t) == 0 || len(t) > 128 || !isWord(t[0]) {
		return false
	}
	for i := 1; i < len(t); i++ {
		if !isWord(t[i]) && t[i] != '.' && t[i] != '-' {
			return false
		}
	}
	return true
}

func isWord(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// validPathComponent checks [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*.
func validPathComponent(c string) bool {
	if c == "" || !isLowerAlnum(c[0]) || !isLowerAlnum(c[len(c)-1]) {
		return false
	}
	for i := 0; i < len(c); {
		if isLowerAlnum(c[i]) {
			i++
			continue
		}
		j := i
		for j < len(c) && !isLowerAlnum(c[j]) {
			j++
		}
		sep := c[i:j]
		if sep != "." && sep != "_" && sep != "__" && strings.Trim(sep, "-") != "" {
			return false
		}
		i = j
	}
	return true
}
