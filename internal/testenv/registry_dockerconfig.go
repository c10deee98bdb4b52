package testenv

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// DockerAuth is one "auths" entry of a Docker config.json.
type DockerAuth struct {
	Username, Password string
}

// DockerConfig is what WriteDockerConfig writes.
type DockerConfig struct {
	Auths       map[string]DockerAuth
	CredHelpers map[string]string
	CredsStore  string
}

// WriteDockerConfig writes dir/config.json, with "auth" fields in base64 as
// docker login writes them, and returns its path.
func WriteDockerConfig(t testing.TB, dir string, cfg DockerConfig) string {
	t.Helper()
	path := filepath.Join(dir, "config.json")
	writeDockerConfigFile(t, path, cfg)
	return path
}

// WriteAuthFile writes credentials in Docker's format at path, as podman,
// skopeo and buildah keep them in auth.json.
func WriteAuthFile(t testing.TB, path string, cfg DockerConfig) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	writeDockerConfigFile(t, path, cfg)
}

// WriteDockerConfigSecret writes a registry secret as Kubernetes mounts it:
// dir/name/.dockerconfigjson.
func WriteDockerConfigSecret(t testing.TB, dir, name string, cfg DockerConfig) string {
	t.Helper()
	path := filepath.Join(dir, name, ".dockerconfigjson")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	writeDockerConfigFile(t, path, cfg)
	return path
}

func writeDockerConfigFile(t testing.TB, path string, cfg DockerConfig) {
	type auth struct {
		Auth string `json:"auth"`
	}
	doc := struct {
		Auths       map[string]auth   `json:"auths,omitempty"`
		CredHelpers map[string]string `json:"credHelpers,omitempty"`
		CredsStore  string            `json:"credsStore,omitempty"`
	}{Auths: map[string]auth{}, CredHelpers: cfg.CredHelpers, CredsStore: cfg.CredsStore}
	for k, a := range cfg.Auths {
		doc.Auths[k] = auth{Auth: base64.StdEncoding.EncodeToString([]byte(a.Username + ":" + a.Password))}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// CredentialHelper is a docker-credential-NAME shell script written by
// WriteCredentialHelper.
type CredentialHelper struct {
	// Dir holds the script: put it first on PATH (t.Setenv("PATH", ...)).
	Dir string
	// Name is what config.json names (credHelpers values, credsStore).
	Name string
	log  string
}

// WriteCredentialHelper writes a credential helper speaking Docker's
// protocol ("get" with the server URL on stdin, JSON on stdout) that knows
// creds by server URL and answers "credentials not found" otherwise. It logs
// each run so that tests can count them.
func WriteCredentialHelper(t testing.TB, name string, creds map[string]DockerAuth) *CredentialHelper {
	t.Helper()
	dir := t.TempDir()
	h := &CredentialHelper{Dir: dir, Name: name, log: filepath.Join(dir, "runs.log")}
	var cases strings.Builder
	for server, a := range creds {
		out, err := json.Marshal(map[string]string{"ServerURL": server, "Username": a.Username, "Secret": a.Password})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cases, "  %s) printf '%%s\\n' %s ;;\n", shellQuote(server), shellQuote(string(out)))
	}
	script := fmt.Sprintf(`#!/bin/sh
echo "$1" >> %s
[ "$1" = get ] || { echo "unsupported: $1"; exit 1; }
server=$(cat)
case "$server" in
%s  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`, shellQuote(h.log), cases.String())
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-"+name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return h
}

// Runs counts the helper's runs so far.
func (h *CredentialHelper) Runs() int {
	b, err := os.ReadFile(h.log)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
