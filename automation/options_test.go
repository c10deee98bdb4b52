package automation_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/automation/state"
)

// TestNew builds the loop from the options of the command line: the
// directories' defaults, the Git credentials, and on failure nothing left
// open (the state store can be opened again at once).
func TestNew(t *testing.T) {
	t.Setenv("HOME", t.TempDir()) // no ~/.ssh
	t.Setenv("SSH_AUTH_SOCK", "")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("tok-123456\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		git      automation.GitOptions
		secrets  string // "" for the default
		password string
		err      string
	}{
		"defaults":            {},
		"token file":          {git: automation.GitOptions{TokenFile: tokenFile}, password: "tok-123456"},
		"secrets dir":         {secrets: "/etc/hoist/secrets"},
		"two tokens":          {git: automation.GitOptions{TokenFile: tokenFile, TokenEnv: "HOIST_TEST_TOKEN"}, err: "give --git-token-file or --git-token-env, not both"},
		"missing key":         {git: automation.GitOptions{SSHKey: filepath.Join(t.TempDir(), "nope")}, err: "--ssh-key: "},
		"missing known_hosts": {git: automation.GitOptions{KnownHosts: filepath.Join(t.TempDir(), "nope")}, err: "--known-hosts: "},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			o := automation.Options{StateDir: dir, SecretsDir: tc.secrets, Git: tc.git, Registry: automation.RegistryOptions{RateLimit: 10, MaxConcurrency: 4}}
			r, err := automation.New(o)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("New: %v, want an error with %q", err, tc.err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				wantSecrets := tc.secrets
				if wantSecrets == "" {
					wantSecrets = filepath.Join(dir, "secrets")
				}
				got := []string{r.StateDir, r.SecretsDir, r.Scanner.SecretsDir, r.GitAuth.Password}
				if diff := cmp.Diff([]string{dir, wantSecrets, wantSecrets, tc.password}, got); diff != "" {
					t.Errorf("StateDir, SecretsDir, Scanner.SecretsDir, GitAuth.Password (-want +got):\n%s", diff)
				}
				if r.State == nil || r.Scanner.Registry == nil {
					t.Fatal("no state store or registry client")
				}
				r.Close()
			}
			// Closed, or never left open: another process may take the
			// state store.
			s, err := state.Open(state.Path(dir), nil)
			if err != nil {
				t.Fatalf("state store still held: %v", err)
			}
			_ = s.Close()
		})
	}
}
