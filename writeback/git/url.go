package git

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// RemoteURL is a parsed Git remote URL. Its String form never contains a
// password or token.
type RemoteURL struct {
	// Scheme is "https", "http", "ssh" or "file". An scp-like address
	// (git@host:path) has Scheme "ssh" and SCP true.
	Scheme string
	// User is the user name: the SSH login, or for HTTP(S) the user name
	// that came with a password in the URL (moved to Auth by Sync).
	User string
	// Host is the host name with an optional ":port".
	Host string
	// Path is the repository path as written, for example
	// "/org/fleet.git", or "org/fleet.git" for an scp-like address.
	Path string
	// SCP records that the address was written scp-like.
	SCP bool

	password string
}

// scpLike matches user@host:path, Git's short form of an SSH URL.
var scpLike = regexp.MustCompile(`^(?:([^@/\s]+)@)?([^:/\s]+):(.+)$`)

// ParseRemoteURL parses a remote URL: https://, http://, ssh://, file://,
// or scp-like user@host:path. Credentials in an HTTP(S) URL are separated
// from it, so that String returns a URL without them.
func ParseRemoteURL(raw string) (RemoteURL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return RemoteURL{}, fmt.Errorf("parsing remote URL: %w: empty", ErrInvalidOptions)
	}
	if !strings.Contains(raw, "://") {
		m := scpLike.FindStringSubmatch(raw)
		if m == nil || len(m[2]) < 2 { // a one-letter host is a Windows drive
			return RemoteURL{}, fmt.Errorf("parsing remote URL %q: %w: not a URL or user@host:path", RedactURLs(raw), ErrInvalidOptions)
		}
		return RemoteURL{Scheme: "ssh", User: m[1], Host: m[2], Path: m[3], SCP: true}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the URL; keep the password out of it.
		return RemoteURL{}, fmt.Errorf("parsing remote URL %q: %w", RedactURLs(raw), ErrInvalidOptions)
	}
	r := RemoteURL{Scheme: strings.ToLower(u.Scheme), Host: u.Host, Path: u.Path}
	switch r.Scheme {
	case "https", "http", "ssh":
		if r.Host == "" {
			return RemoteURL{}, fmt.Errorf("parsing remote URL %q: %w: no host", RedactURLs(raw), ErrInvalidOptions)
		}
	case "file":
		if r.Path == "" {
			return RemoteURL{}, fmt.Errorf("parsing remote URL %q: %w: no path", raw, ErrInvalidOptions)
		}
	default:
		return RemoteURL{}, fmt.Errorf("parsing remote URL %q: %w: unsupported scheme %q", RedactURLs(raw), ErrInvalidOptions, u.Scheme)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return RemoteURL{}, fmt.Errorf("parsing remote URL %q: %w: query or fragment not allowed", RedactURLs(raw), ErrInvalidOptions)
	}
	if u.User != nil {
		r.User = u.User.Username()
		r.password, _ = u.User.Password()
	}
	return r, nil
}

// String returns the URL without credentials: for HTTP(S) without any user
// information, for SSH with the login user only.
func (r RemoteURL) String() string {
	if r.SCP {
		if r.User == "" {
			return r.Host + ":" + r.Path
		}
		return r.User + "@" + r.Host + ":" + r.Path
	}
	u := url.URL{Scheme: r.Scheme, Host: r.Host, Path: r.Path}
	if r.Scheme == "ssh" && r.User != "" {
		u.User = url.User(r.User)
	}
	return u.String()
}

// withoutCredentials is r as its String form parses back: without the
// password, and for HTTP(S) and file URLs without the user name.
func (r RemoteURL) withoutCredentials() RemoteURL {
	r.password = ""
	if !r.SCP && r.Scheme != "ssh" {
		r.User = ""
	}
	return r
}

// Hostname is Host without the port.
func (r RemoteURL) Hostname() string {
	if r.SCP {
		return r.Host
	}
	return (&url.URL{Host: r.Host}).Hostname()
}

// IsSSH reports whether the remote is reached over SSH.
func (r RemoteURL) IsSSH() bool { return r.Scheme == "ssh" }

// IsHTTP reports whether the remote is reached over HTTP or HTTPS.
func (r RemoteURL) IsHTTP() bool { return r.Scheme == "http" || r.Scheme == "https" }

// RedactURL returns the single remote URL raw in a form safe to log, to
// use as a metric label, a status field or a key in state: the String form
// of the parsed URL, so an HTTP(S) URL loses its user information (a token
// is often written as the user name, https://TOKEN@host/path) and an SSH URL
// keeps its login only. A URL that does not parse has the user information
// of its authority, and any query or fragment, replaced by "REDACTED".
func RedactURL(raw string) string {
	if r, err := ParseRemoteURL(raw); err == nil {
		return r.String()
	}
	s := strings.TrimSpace(raw)
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i] + "?REDACTED"
	}
	rest, prefix := s, ""
	if i := strings.Index(s, "://"); i >= 0 {
		prefix, rest = s[:i+3], s[i+3:]
	}
	authority := rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		authority = rest[:i]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		return prefix + "REDACTED" + rest[i:]
	}
	return s
}

// urlUserinfo matches the user information of URLs in free text.
var urlUserinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*)://([^/@\s"']+)@`)

// RedactURLs replaces credentials of URLs found in s: the whole user
// information of http(s) URLs (a bare token is often written as the user
// name) and the password of other URLs.
func RedactURLs(s string) string {
	return urlUserinfo.ReplaceAllStringFunc(s, func(m string) string {
		sub := urlUserinfo.FindStringSubmatch(m)
		scheme, info := strings.ToLower(sub[1]), sub[2]
		if scheme == "http" || scheme == "https" {
			return sub[1] + "://REDACTED@"
		}
		if user, _, ok := strings.Cut(info, ":"); ok {
			return sub[1] + "://" + user + ":REDACTED@"
		}
		return m
	})
}
