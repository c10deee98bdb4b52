package git_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hoist-dev/hoist/writeback/git"
)

func TestParseRemoteURL(t *testing.T) {
	tests := map[string]struct {
		want   git.RemoteURL
		string string
	}{
		"https://github.com/org/fleet.git": {
			want:   git.RemoteURL{Scheme: "https", Host: "github.com", Path: "/org/fleet.git"},
			string: "https://github.com/org/fleet.git",
		},
		"https://bot:tok3n@gitlab.example.com:8443/group/sub/fleet": {
			want:   git.RemoteURL{Scheme: "https", User: "bot", Host: "gitlab.example.com:8443", Path: "/group/sub/fleet"},
			string: "https://gitlab.example.com:8443/group/sub/fleet",
		},
		"ssh://git@github.com:22/org/fleet.git": {
			want:   git.RemoteURL{Scheme: "ssh", User: "git", Host: "github.com:22", Path: "/org/fleet.git"},
			string: "ssh://git@github.com:22/org/fleet.git",
		},
		"git@github.com:org/fleet.git": {
			want:   git.RemoteURL{Scheme: "ssh", User: "git", Host: "github.com", Path: "org/fleet.git", SCP: true},
			string: "git@github.com:org/fleet.git",
		},
		"file:///srv/git/fleet.git": {
			want:   git.RemoteURL{Scheme: "file", Path: "/srv/git/fleet.git"},
			string: "file:///srv/git/fleet.git",
		},
	}
	for in, tc := range tests {
		t.Run(in, func(t *testing.T) {
			got, err := git.ParseRemoteURL(in)
			if err != nil {
				t.Fatalf("ParseRemoteURL: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreUnexported(git.RemoteURL{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.String() != tc.string {
				t.Errorf("String() = %q, want %q", got.String(), tc.string)
			}
		})
	}
	for _, bad := range []string{"", "ftp://x/y", "https:///nohost", "C:/repo", "https://u:p@h/x?token=1", "/local/path"} {
		t.Run("bad "+bad, func(t *testing.T) {
			_, err := git.ParseRemoteURL(bad)
			if err == nil {
				t.Fatal("ParseRemoteURL succeeded")
			}
			if strings.Contains(err.Error(), ":p@") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestRedactURLs(t *testing.T) {
	tests := map[string]string{
		`Get "https://user:pass@github.com/x": EOF`:    `Get "https://REDACTED@github.com/x": EOF`,
		"clone https://ghp_abc@github.com/o/r failed":  "clone https://REDACTED@github.com/o/r failed",
		"ssh://git:secret@host/r and ssh://git@host/r": "ssh://git:REDACTED@host/r and ssh://git@host/r",
		"no url here": "no url here",
	}
	for in, want := range tests {
		if got := git.RedactURLs(in); got != want {
			t.Errorf("RedactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"token as user name":        {"https://ghp_0123456789abcdefghij@github.com/org/fleet.git", "https://github.com/org/fleet.git"},
		"user and token":            {"https://x-access-token:ghs_secret123@github.com/org/fleet", "https://github.com/org/fleet"},
		"http with port":            {"http://tok3n@127.0.0.1:8080/fleet.git", "http://127.0.0.1:8080/fleet.git"},
		"no credentials":            {"https://gitlab.example.com/group/sub/fleet", "https://gitlab.example.com/group/sub/fleet"},
		"ssh login kept":            {"ssh://git@github.com/org/fleet.git", "ssh://git@github.com/org/fleet.git"},
		"ssh password dropped":      {"ssh://git:hunter22@github.com/org/fleet.git", "ssh://git@github.com/org/fleet.git"},
		"scp-like":                  {"git@github.com:org/fleet.git", "git@github.com:org/fleet.git"},
		"file":                      {"file:///srv/git/fleet.git", "file:///srv/git/fleet.git"},
		"unparsable keeps no token": {"https://tok%zz3n@github.com/org/fleet", "https://REDACTED@github.com/org/fleet"},
		"query dropped":             {"https://tok3n@h/x?access_token=s3cret", "https://REDACTED@h/x?REDACTED"},
		"at sign in the path":       {"https://h/x?u=a@b", "https://h/x?REDACTED"},
		"not a URL":                 {"no url here", "no url here"},
		"empty":                     {"", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, git.RedactURL(tc.in)); diff != "" {
				t.Errorf("RedactURL(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{"https://tok@h/x", "https://u:p@h/x", "ssh://git:pw@h/x", "git@h:x", "https://t%zz@h/x", "h@x?y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out := git.RedactURL(raw)
		if u, err := git.ParseRemoteURL(raw); err == nil && u.IsHTTP() {
			again, err := git.ParseRemoteURL(out)
			if err != nil || again.User != "" {
				t.Fatalf("RedactURL(%q) = %q: want an HTTP URL without user information (%v)", raw, out, err)
			}
		}
		// Whatever the input, an HTTP(S) authority keeps no user
		// information but the REDACTED placeholder (SSH keeps its login).
		if scheme, rest, ok := strings.Cut(out, "://"); ok && (strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")) {
			authority, _, _ := strings.Cut(rest, "/")
			if user, _, ok := strings.Cut(authority, "@"); ok && (user != "REDACTED" || strings.Count(authority, "@") > 1) {
				t.Fatalf("RedactURL(%q) = %q keeps user information %q", raw, out, user)
			}
		}
	})
}

func FuzzParseRemoteURL(f *testing.F) {
	for _, s := range []string{
		"https://github.com/org/fleet.git", "https://u:p@h:1/x", "ssh://git@h/x", "git@h:x", "file:///x",
		"h:x", "https://[::1]:8080/x", "ssh://u:pw@h/x", "https://h/x#f",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := git.ParseRemoteURL(raw)
		if err != nil {
			return
		}
		s := u.String()
		// The canonical form parses to the same remote and carries no
		// password.
		again, err := git.ParseRemoteURL(s)
		if err != nil {
			t.Fatalf("String() %q of %q does not parse: %v", s, raw, err)
		}
		if again.String() != s {
			t.Fatalf("String() is not stable: %q -> %q", s, again.String())
		}
		if again.IsHTTP() && again.User != "" {
			t.Fatalf("String() %q of %q keeps user information", s, raw)
		}
	})
}

func FuzzRedactURLs(f *testing.F) {
	f.Add("https://user:pass@example.com/x")
	f.Add("ssh://git:pw@h/x")
	f.Fuzz(func(t *testing.T, s string) {
		out := git.RedactURLs(s)
		if git.RedactURLs(out) != out {
			t.Fatalf("RedactURLs is not idempotent on %q", s)
		}
	})
}
