package git_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback/git"
)

// newOpenPGPKey returns an armored private key encrypted with passphrase
// (when not empty) and the armored public key.
func newOpenPGPKey(t *testing.T, passphrase string) (private, public []byte) {
	t.Helper()
	e, err := openpgp.NewEntity("hoist", "test", "hoist@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	w, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	var priv bytes.Buffer
	w, err = armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if passphrase != "" {
		if err := e.EncryptPrivateKeys([]byte(passphrase), nil); err != nil {
			t.Fatal(err)
		}
		err = e.SerializePrivateWithoutSigning(w, nil)
	} else {
		err = e.SerializePrivate(w, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return priv.Bytes(), pub.Bytes()
}

// pushSigned runs Update with signer and returns the pushed commit.
func pushSigned(t *testing.T, signer git.Signer) (*fixture, string) {
	t.Helper()
	f := newFixture(t)
	co := mustSync(t, f.syncOptions(t))
	var waits []time.Duration
	opts := updateOptions(&waits)
	opts.Commit.Signer = signer
	out, err := co.Update(context.Background(), setImage(newImage), opts)
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	return f, out.Commit
}

func TestOpenPGPSigning(t *testing.T) {
	priv, pub := newOpenPGPKey(t, "pgp passphrase")
	dir := t.TempDir()
	for name, content := range map[string][]byte{git.KeyGitASC: priv, git.KeyPassphrase: []byte("pgp passphrase\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	signer, err := git.SignerFromSecretDir(dir, nil)
	if err != nil {
		t.Fatalf("SignerFromSecretDir: %v", err)
	}
	f, sha := pushSigned(t, signer)

	repo, err := gogit.PlainOpen(f.bare)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := repo.CommitObject(plumbing.NewHash(sha))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(commit.PGPSignature, "-----BEGIN PGP SIGNATURE-----") {
		t.Fatalf("commit has no OpenPGP signature: %q", commit.PGPSignature)
	}
	if _, err := commit.Verify(string(pub)); err != nil {
		t.Errorf("verifying with the public key: %v", err)
	}
	_, otherPub := newOpenPGPKey(t, "")
	if _, err := commit.Verify(string(otherPub)); err == nil {
		t.Errorf("signature verified with another key")
	}

	// git itself (through gpg) agrees.
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Log("gpg not installed; skipping git verify-commit")
		return
	}
	gnupg := t.TempDir()
	env := append(testenv.GitEnv(f.bare), "GNUPGHOME="+gnupg)
	imp := exec.Command("gpg", "--batch", "--import")
	imp.Env, imp.Stdin = env, bytes.NewReader(pub)
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, out)
	}
	verify := exec.Command("git", "verify-commit", sha)
	verify.Dir, verify.Env = f.bare, env
	if out, err := verify.CombinedOutput(); err != nil {
		t.Errorf("git verify-commit: %v\n%s", err, out)
	}
}

func TestSSHSigning(t *testing.T) {
	key := testenv.NewSSHKey(t, "ssh passphrase")
	signer, err := git.NewSSHSigner(key.PrivatePEM, []byte("ssh passphrase"))
	if err != nil {
		t.Fatalf("NewSSHSigner: %v", err)
	}
	f, sha := pushSigned(t, signer)

	allowed := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(allowed, append([]byte("hoist@example.com "), key.AuthorizedKey()...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := testenv.GitCLIResult(f.bare, nil, "-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", sha); err != nil {
		t.Fatalf("git verify-commit: %v", err)
	}

	other := testenv.NewSSHKey(t, "")
	if err := os.WriteFile(allowed, append([]byte("hoist@example.com "), other.AuthorizedKey()...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := testenv.GitCLIResult(f.bare, nil, "-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", sha); err == nil {
		t.Errorf("signature verified with another key")
	}
}

func TestSignerErrors(t *testing.T) {
	priv, _ := newOpenPGPKey(t, "pgp passphrase")
	sshKey := testenv.NewSSHKey(t, "ssh passphrase")
	tests := map[string]struct {
		files map[string]string
		text  string
	}{
		"empty":                         {files: map[string]string{}, text: "neither git.asc nor identity"},
		"openpgp without passphrase":    {files: map[string]string{git.KeyGitASC: string(priv)}, text: "no passphrase"},
		"openpgp with wrong passphrase": {files: map[string]string{git.KeyGitASC: string(priv), git.KeyPassphrase: "nope"}, text: "decrypting"},
		"openpgp garbage":               {files: map[string]string{git.KeyGitASC: "not a key"}, text: "reading OpenPGP signing key"},
		"ssh without passphrase":        {files: map[string]string{git.KeySSHSigningKey: string(sshKey.PrivatePEM)}, text: "no passphrase"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for k, v := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := git.SignerFromSecretDir(dir, nil)
			if err == nil || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.text)
			}
			if err != nil && strings.Contains(err.Error(), "pgp passphrase") {
				t.Errorf("error shows the passphrase: %v", err)
			}
		})
	}
}
