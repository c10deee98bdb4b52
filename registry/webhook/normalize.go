package webhook

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidImage is returned (wrapped) by Normalize when a string is not an
// image repository name.
var ErrInvalidImage = errors.New("invalid image repository")

// DockerHub is the registry host of Docker Hub in normalised names.
const DockerHub = "docker.io"

// maxNameLength is the longest repository name, host included, that
// Distribution accepts.
const maxNameLength = 255

// Normalize returns the canonical form of an image repository, the form in
// which the repository a webhook names is compared with the image of an
// ImageRepository:
//   - a tag, a digest, a URL scheme and a trailing slash are dropped;
//   - a name whose first component is not a host (it has no "." or ":" and is
//     not "localhost") is on Docker Hub; Docker Hub's aliases index.docker.io,
//     registry-1.docker.io and registry.hub.docker.com become docker.io, and
//     a one-component name on Docker Hub gets "library/";
//   - host and path are lowercased: hosts are case-insensitive, and the
//     distribution grammar allows only lowercase paths (GitHub owners'
//     logins have capitals, their ghcr.io repositories do not);
//   - the default HTTPS port ":443" is dropped; any other port is kept.
//
// What is left must be HOST/PATH with PATH in the distribution grammar, at
// most 255 characters; else the error wraps ErrInvalidImage.
func Normalize(image string) (string, error) {
	n, ok := normalize(image)
	if !ok {
		return "", fmt.Errorf("normalising %q: %w", truncate(image), ErrInvalidImage)
	}
	return n, nil
}

// Match reports whether an ImageRepository's image (its spec.image) and an
// image a webhook names are the same repository once normalised. A string
// that does not normalise matches nothing.
func Match(imageRepoSpec, payloadImage string) bool {
	a, ok := normalize(imageRepoSpec)
	if !ok {
		return false
	}
	b, ok := normalize(payloadImage)
	return ok && a == b
}

// Selects reports whether a request whose Trigger got images asks for a
// rescan of the ImageRepository whose spec.image is imageRepoSpec: images is
// nil when the sender names no repository (generic, generic-hmac), which
// selects every resource of the receiver; else one of images must Match.
func Selects(images []string, imageRepoSpec string) bool {
	// Key(img) == Key(imageRepoSpec) for one of images, both valid.
	if images == nil {
		return true
	}
	spec, ok := normalize(imageRepoSpec)
	if !ok {
		return false
	}
	for _, img := range images {
		if n, ok := normalize(img); ok && n == spec {
			return true
		}
	}
	return false
}

// Key is the form in which Selects compares a request's image with an
// ImageRepository's spec.image (false for a string that is no image
// name): a caller that matches many resources against each request keys
// them by it once, and looks each of the request's Images up.
func Key(image string) (string, bool) { return normalize(image) }

func normalize(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 4*maxNameLength { // refuse to work on garbage
		return "", false
	}
	if i := strings.Index(s, "://"); i >= 0 {
		switch strings.ToLower(s[:i]) {
		case "https", "http", "docker", "oci":
			s = s[i+3:]
		default:
			return "", false
		}
	}
	if t := strings.TrimRight(s, "/"); t != s {
		if !strings.Contains(t, "/") { // "ghcr.io/": a host without a path
			return "", false
		}
		s = t
	}
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') {
		s = s[:i]
	}
	host, path := splitHost(s)
	host = strings.ToLower(host)
	path = strings.ToLower(path)
	host = strings.TrimSuffix(host, ":443")
	switch host {
	case "", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		host = DockerHub
	}
	if host == DockerHub && path != "" && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	if !validHost(host) || !validPath(path) {
		return "", false
	}
	n := host + "/" + path
	if len(n) > maxNameLength {
		return "", false
	}
	return n, true
}

// splitHost splits a name into its registry host (empty when the first
// component is not one) and its path.
func splitHost(s string) (host, path string) {
	first, rest, ok := strings.Cut(s, "/")
	if !ok || !isHost(first) {
		return "", s
	}
	return first, rest
}

// isHost says whether the first component of a name is a registry host, by
// Docker's rule.
func isHost(s string) bool {
	return strings.ContainsAny(s, ".:") || s == "localhost" || strings.HasPrefix(s, "[")
}

// validHost checks a lowercased host: DNS labels or a bracketed IPv6
// address, and an optional numeric port.
func validHost(h string) bool {
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 2 {
			return false
		}
		for _, c := range h[1:end] {
			if !isHex(c) && c != ':' && c != '.' {
				return false
			}
		}
		rest := h[end+1:]
		return rest == "" || rest[0] == ':' && validPort(rest[1:])
	}
	name := h
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if !validPort(h[i+1:]) {
			return false
		}
		name = h[:i]
	}
	if name == "" {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !isLowerAlnum(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validPath checks a path against the distribution grammar: components of
// [a-z0-9]+ joined by ".", "_", "__" or runs of "-", separated by "/".
func validPath(p string) bool {
	if p == "" {
		return false
	}
	for comp := range strings.SplitSeq(p, "/") {
		if !validComponent(comp) {
			return false
		}
	}
	return true
}

func validComponent(c string) bool {
	if c == "" || !isLowerAlnum(rune(c[0])) || !isLowerAlnum(rune(c[len(c)-1])) {
		return false
	}
	for i := 0; i < len(c); i++ {
		if isLowerAlnum(rune(c[i])) {
			continue
		}
		// A separator: ".", "_", "__" or "-"+, between alphanumerics.
		j := i
		for j < len(c) && !isLowerAlnum(rune(c[j])) {
			j++
		}
		sep := c[i:j]
		switch {
		case sep == "." || sep == "_" || sep == "__":
		case strings.Trim(sep, "-") == "":
		default:
			return false
		}
		i = j - 1
	}
	return true
}

func isLowerAlnum(c rune) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func isHex(c rune) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
