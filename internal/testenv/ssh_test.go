package testenv

import (
	"strings"
	"testing"
)

func TestParseGitSSHCommand(t *testing.T) {
	tests := map[string]struct{ name, repo string }{
		"git-upload-pack '/fleet.git'":        {"git-upload-pack", "fleet.git"},
		"git-receive-pack 'org/fleet.git'":    {"git-receive-pack", "org/fleet.git"},
		`git-upload-pack "/../../etc/passwd"`: {"git-upload-pack", "etc/passwd"},
	}
	for raw, want := range tests {
		name, repo, err := parseGitSSHCommand(raw)
		if err != nil || name != want.name || repo != want.repo {
			t.Errorf("parseGitSSHCommand(%q) = %q, %q, %v; want %q, %q", raw, name, repo, err, want.name, want.repo)
		}
	}
	for _, bad := range []string{"", "ls /", "git-upload-pack", "git-upload-pack '/'", "sh -c 'x'"} {
		if _, _, err := parseGitSSHCommand(bad); err == nil {
			t.Errorf("parseGitSSHCommand(%q) succeeded", bad)
		}
	}
}

func FuzzParseGitSSHCommand(f *testing.F) {
	f.Add("git-upload-pack '/fleet.git'")
	f.Add("git-receive-pack '../x'")
	f.Fuzz(func(t *testing.T, raw string) {
		_, repo, err := parseGitSSHCommand(raw)
		if err != nil {
			return
		}
		// The repository never escapes the server's root.
		if repo == "" || strings.HasPrefix(repo, "/") || repo == ".." || strings.HasPrefix(repo, "../") {
			t.Fatalf("parseGitSSHCommand(%q) gave repository %q", raw, repo)
		}
	})
}
