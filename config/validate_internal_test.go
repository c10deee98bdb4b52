package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitDocuments(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []chunk
	}{
		"one":        {"a: 1\n", []chunk{{data: []byte("a: 1\n"), line: 1}}},
		"leading":    {"---\na: 1\n", []chunk{{data: []byte("---\na: 1\n"), line: 1}}},
		"two":        {"a: 1\n---\nb: 2\n", []chunk{{data: []byte("a: 1\n"), line: 1}, {data: []byte("---\nb: 2\n"), line: 2}}},
		"comment":    {"a: 1\n--- # two\nb: 2", []chunk{{data: []byte("a: 1\n"), line: 1}, {data: []byte("--- # two\nb: 2"), line: 2}}},
		"crlf":       {"a: 1\r\n---\r\nb: 2\r\n", []chunk{{data: []byte("a: 1\r\n"), line: 1}, {data: []byte("---\r\nb: 2\r\n"), line: 2}}},
		"not marker": {"a: 1\n----\n  ---\nb: '---'\n", []chunk{{data: []byte("a: 1\n----\n  ---\nb: '---'\n"), line: 1}}},
		"empty":      {"", []chunk{{data: []byte(""), line: 1}}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := splitDocuments([]byte(tt.in))
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(chunk{})); diff != "" {
				t.Errorf("splitDocuments(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestCheckImage(t *testing.T) {
	tests := map[string]bool{
		"ghcr.io/stefanprodan/podinfo":  true,
		"nginx":                         true,
		"library/nginx":                 true,
		"localhost:5000/app":            true,
		"127.0.0.1:5000/team/app":       true,
		"registry.example.com/a/b/c/d":  true,
		"ghcr.io/org/app_x.y-z__w":      true,
		"[::1]:5000/app":                true,
		"ghcr.io/org/app:1.0":           false,
		"ghcr.io/org/app@sha256:abc":    false,
		"https://ghcr.io/org/app":       false,
		"ghcr.io/Org/app":               false,
		"ghcr.io/org//app":              false,
		"ghcr.io/org/app/":              false,
		"-bad.example.com/app":          false,
		"":                              false,
		"ghcr.io/org/app with space":    false,
		"ghcr.io/org/-app":              false,
		"registry.example.com:port/app": false,
	}
	for image, ok := range tests {
		t.Run(image, func(t *testing.T) {
			err := checkImage(image)
			if (err == nil) != ok {
				t.Errorf("checkImage(%q) = %v, want ok %v", image, err, ok)
			}
		})
	}
}

func TestCheckGitURL(t *testing.T) {
	tests := map[string]string{
		"https://github.com/org/repo":          "",
		"http://127.0.0.1:8080/repo.git":       "",
		"ssh://git@github.com/org/repo":        "",
		"git@github.com:org/repo.git":          "",
		"github.com:org/repo.git":              "",
		"file:///srv/git/repo.git":             "",
		"https://token@github.com/org/repo":    "",
		"https://user:secret@github.com/o/r":   "the URL carries a password; name a secret in secretRef instead",
		"ftp://example.com/repo":               `scheme "ftp": want http, https, ssh or file`,
		"https:///repo":                        "https URL without a host",
		"/srv/git/repo.git":                    "want an http, https, ssh or file URL, or user@host:path",
		"https://user:secret@exa mple.com/o/r": "parsing URL: invalid character \" \" in host name",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			got := ""
			if err := checkGitURL(in); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("checkGitURL(%q) (-want +got):\n%s", in, diff)
			}
		})
	}
}

func TestCheckRefName(t *testing.T) {
	tests := map[string]bool{
		"main":            true,
		"hoist/prod":      true,
		"release-1.2":     true,
		"refs/heads/main": true,
		"a..b":            false,
		"a b":             false,
		"a:b":             false,
		"-x":              false,
		"x/":              false,
		"x.lock":          false,
		".x":              false,
		"a/.b":            false,
		"@":               false,
		"a@{1}":           false,
		"a~1":             false,
		"x.":              false,
	}
	for in, ok := range tests {
		t.Run(in, func(t *testing.T) {
			if err := checkRefName(in); (err == nil) != ok {
				t.Errorf("checkRefName(%q) = %v, want ok %v", in, err, ok)
			}
		})
	}
}

func TestCheckUpdatePath(t *testing.T) {
	tests := map[string]bool{
		".":               true,
		"./clusters/prod": true,
		"clusters/../a":   true,
		"..":              false,
		"../x":            false,
		"a/../../x":       false,
		"/etc":            false,
		`..\x`:            false,
	}
	for in, ok := range tests {
		t.Run(in, func(t *testing.T) {
			if err := checkUpdatePath(in); (err == nil) != ok {
				t.Errorf("checkUpdatePath(%q) = %v, want ok %v", in, err, ok)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	tests := []struct {
		path, key, child, parent string
	}{
		{"", "spec", "spec", ""},
		{"metadata.labels", "app", "metadata.labels.app", "metadata.labels"},
		{"metadata.annotations", "hoist.dev/policy", `metadata.annotations["hoist.dev/policy"]`, "metadata.annotations"},
		{"spec.resources[0]", "kind", "spec.resources[0].kind", "spec.resources[0]"},
	}
	for _, tt := range tests {
		child := mapKeyPath(tt.path, tt.key)
		if child != tt.child {
			t.Errorf("mapKeyPath(%q, %q) = %q, want %q", tt.path, tt.key, child, tt.child)
		}
		if got := parentPath(child); got != tt.parent {
			t.Errorf("parentPath(%q) = %q, want %q", child, got, tt.parent)
		}
	}
	if got := parentPath("spec.resources[0]"); got != "spec.resources" {
		t.Errorf("parentPath(spec.resources[0]) = %q", got)
	}
}

// TestReadVanishedFile: a file listed in a directory and gone before it is
// read is skipped without a word; given by name, it is an error.
func TestReadVanishedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tmp.yaml")
	data, warn, skip, err := readDocumentFile(path, true)
	if data != nil || warn != nil || !skip || err != nil {
		t.Errorf("readDocumentFile(vanished, listed) = %q, %v, %v, %v; want skipped", data, warn, skip, err)
	}
	if _, _, skip, err := readDocumentFile(path, false); skip || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("readDocumentFile(missing, given) = skip %v, %v; want fs.ErrNotExist", skip, err)
	}
}
