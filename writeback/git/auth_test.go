package git_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback/git"
)

func TestAuthFromSecretDir(t *testing.T) {
	tests := map[string]git.Auth{
		"basic": {Username: "hoist-bot", Password: "s3cret",
			CABundle: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")},
		"ssh": {Password: "passphrase", Identity: []byte("not-a-real-key\n"),
			KnownHosts: []byte("github.com ssh-ed25519 AAAAC3Nza\n")},
		"token":            {BearerToken: "ghp_token123"},
		"legacy-ca":        {CABundle: []byte("legacy-ca\n")},
		"kubernetes-mount": {Username: "mounted-user"},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := git.AuthFromSecretDir("testdata/secrets/" + name)
			if err != nil {
				t.Fatalf("AuthFromSecretDir: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := git.AuthFromSecretDir("testdata/secrets/missing"); err == nil {
		t.Error("AuthFromSecretDir of a missing directory succeeded")
	}
}

// TestArgoAuthFromSecretDir reads Argo CD's repository Secrets, which
// Image Updater's git:secret names: the SSH key under sshPrivateKey, unless
// the Secret has hoist's (Flux's) identity too.
func TestArgoAuthFromSecretDir(t *testing.T) {
	tests := map[string]struct {
		want     git.Auth
		wantFlux git.Auth // what AuthFromSecretDir reads of the same Secret
	}{
		"argo-ssh": {
			want:     git.Auth{Identity: []byte("argo-key\n"), KnownHosts: []byte("github.com ssh-ed25519 AAAAC3Nza\n")},
			wantFlux: git.Auth{KnownHosts: []byte("github.com ssh-ed25519 AAAAC3Nza\n")},
		},
		"argo-both": {
			want:     git.Auth{Identity: []byte("identity-key\n")},
			wantFlux: git.Auth{Identity: []byte("identity-key\n")},
		},
		"argo-https": {
			want:     git.Auth{Username: "argo-user", Password: "argo-pass"},
			wantFlux: git.Auth{Username: "argo-user", Password: "argo-pass"},
		},
		"ssh": { // a Flux Secret reads the same
			want:     git.Auth{Password: "passphrase", Identity: []byte("not-a-real-key\n"), KnownHosts: []byte("github.com ssh-ed25519 AAAAC3Nza\n")},
			wantFlux: git.Auth{Password: "passphrase", Identity: []byte("not-a-real-key\n"), KnownHosts: []byte("github.com ssh-ed25519 AAAAC3Nza\n")},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := git.ArgoAuthFromSecretDir("testdata/secrets/" + name)
			if err != nil {
				t.Fatalf("ArgoAuthFromSecretDir: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ArgoAuthFromSecretDir (-want +got):\n%s", diff)
			}
			flux, err := git.AuthFromSecretDir("testdata/secrets/" + name)
			if err != nil {
				t.Fatalf("AuthFromSecretDir: %v", err)
			}
			if diff := cmp.Diff(tt.wantFlux, flux); diff != "" {
				t.Errorf("AuthFromSecretDir (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := git.ArgoAuthFromSecretDir("testdata/secrets/missing"); err == nil {
		t.Error("ArgoAuthFromSecretDir of a missing directory succeeded")
	}
}

func TestAuthNeverPrintsSecrets(t *testing.T) {
	a := git.Auth{Username: "u", Password: "pass-secret", BearerToken: "token-secret", Identity: []byte("key-secret")}
	for _, s := range []string{a.String(), fmt.Sprintf("%v", a), fmt.Sprintf("%+v", a), fmt.Sprintf("%#v", a), a.LogValue().String()} {
		for _, secret := range []string{"pass-secret", "token-secret", "key-secret"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q shows %q", s, secret)
			}
		}
	}
	if got, want := a.String(), "Auth{username=u password=set bearerToken=set identity=set}"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestTokens(t *testing.T) {
	env := map[string]string{"HOIST_GIT_TOKEN": " tok \n", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if got, err := git.TokenFromEnv(lookup, "HOIST_GIT_TOKEN"); err != nil || got != "tok" {
		t.Errorf("TokenFromEnv = %q, %v", got, err)
	}
	for _, name := range []string{"EMPTY", "UNSET"} {
		if _, err := git.TokenFromEnv(lookup, name); err == nil {
			t.Errorf("TokenFromEnv(%s) succeeded", name)
		}
	}
	if got, err := git.ReadTokenFile("testdata/secrets/token/bearerToken"); err != nil || got != "ghp_token123" {
		t.Errorf("ReadTokenFile = %q, %v", got, err)
	}
}

func TestUserSSH(t *testing.T) {
	plain := testenv.NewSSHKey(t, "")
	other := testenv.NewSSHKey(t, "")
	encrypted := testenv.NewSSHKey(t, "secret passphrase")
	hosts := []byte("[127.0.0.1]:2222 ssh-ed25519 AAAAC3Nza\n")
	tests := map[string]struct {
		files map[string][]byte
		agent string
		want  git.Auth
	}{
		"nothing": {},
		"known_hosts and the first default key": {
			files: map[string][]byte{"known_hosts": hosts, "id_ecdsa": plain.PrivatePEM, "id_rsa": other.PrivatePEM},
			want:  git.Auth{KnownHosts: hosts, Identity: plain.PrivatePEM},
		},
		"an encrypted key is passed over": {
			files: map[string][]byte{"id_ed25519": encrypted.PrivatePEM, "id_rsa": plain.PrivatePEM},
			want:  git.Auth{Identity: plain.PrivatePEM},
		},
		"only an encrypted key": {
			files: map[string][]byte{"id_ed25519": encrypted.PrivatePEM},
		},
		"a file that is not a key is passed over": {
			files: map[string][]byte{"id_ed25519": []byte("not a key\n")},
		},
		"ssh-agent and a key": {
			files: map[string][]byte{"known_hosts": hosts, "id_ed25519": plain.PrivatePEM},
			agent: "/run/user/1000/agent.sock",
			want:  git.Auth{KnownHosts: hosts, Identity: plain.PrivatePEM, AgentSocket: "/run/user/1000/agent.sock"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for f, b := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := git.UserSSH(dir, tc.agent)
			if err != nil {
				t.Fatalf("UserSSH: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := git.UserSSH(filepath.Join(t.TempDir(), "missing"), ""); err != nil {
		t.Errorf("UserSSH of a missing ~/.ssh: %v", err)
	}
}
