package git

import (
	"bytes"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"golang.org/x/crypto/ssh"
)

// Signer signs commits: Sign receives the encoded commit without its
// signature and returns the armored signature that Git stores in the
// commit's gpgsig header. It has the method set of go-git's Signer.
type Signer interface {
	Sign(message io.Reader) ([]byte, error)
}

// Signing secret keys, as in Flux (git.asc, passphrase) plus hoist's SSH
// signing key.
const (
	KeyGitASC        = "git.asc"
	KeyPassphrase    = "passphrase"
	KeySSHSigningKey = "identity"
)

// SignerFromSecretDir reads a signing secret from dir (DIR/KEY files): an
// armored OpenPGP private key in git.asc with an optional passphrase in
// passphrase (Flux's keys), or else an SSH private key in identity with an
// optional passphrase in passphrase (hoist's extension). now is the clock
// for signature times (nil: time.Now).
func SignerFromSecretDir(dir string, now func() time.Time) (Signer, error) {
	read := func(key string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, key))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading signing secret %q key %q: %w", dir, key, err)
		}
		return b, nil
	}
	pass, err := read(KeyPassphrase)
	if err != nil {
		return nil, err
	}
	pass = bytes.TrimRight(pass, "\r\n")
	if asc, err := read(KeyGitASC); err != nil {
		return nil, err
	} else if asc != nil {
		s, err := NewOpenPGPSigner(asc, pass, now)
		if err != nil {
			return nil, fmt.Errorf("reading signing secret %q: %w", dir, err)
		}
		return s, nil
	}
	if key, err := read(KeySSHSigningKey); err != nil {
		return nil, err
	} else if key != nil {
		s, err := NewSSHSigner(key, pass)
		if err != nil {
			return nil, fmt.Errorf("reading signing secret %q: %w", dir, err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("reading signing secret %q: %w: neither %s nor %s is present", dir, ErrInvalidOptions, KeyGitASC, KeySSHSigningKey)
}

// openPGPSigner makes armored detached OpenPGP signatures.
type openPGPSigner struct {
	entity *openpgp.Entity
	now    func() time.Time
}

// NewOpenPGPSigner returns a Signer for the first private key of an armored
// OpenPGP key ring, decrypted with passphrase when it is encrypted. now is
// the clock for signature times (nil: time.Now).
func NewOpenPGPSigner(armored, passphrase []byte, now func() time.Time) (Signer, error) {
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("reading OpenPGP signing key: %w", err)
	}
	var entity *openpgp.Entity
	for _, e := range ring {
		if e.PrivateKey != nil {
			entity = e
			break
		}
	}
	if entity == nil {
		return nil, fmt.Errorf("reading OpenPGP signing key: %w: no private key in the key ring", ErrInvalidOptions)
	}
	encrypted := entity.PrivateKey.Encrypted
	for _, sub := range entity.Subkeys {
		encrypted = encrypted || (sub.PrivateKey != nil && sub.PrivateKey.Encrypted)
	}
	if encrypted {
		if len(passphrase) == 0 {
			return nil, fmt.Errorf("reading OpenPGP signing key: %w: the key is encrypted and no passphrase is set", ErrInvalidOptions)
		}
		if err := entity.DecryptPrivateKeys(passphrase); err != nil {
			return nil, fmt.Errorf("decrypting OpenPGP signing key: %w", err)
		}
	}
	if now == nil {
		now = time.Now
	}
	return &openPGPSigner{entity: entity, now: now}, nil
}

func (s *openPGPSigner) Sign(message io.Reader) ([]byte, error) {
	var b bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&b, s.entity, message, &packet.Config{Time: s.now}); err != nil {
		return nil, fmt.Errorf("signing commit with OpenPGP: %w", err)
	}
	return b.Bytes(), nil
}

// sshSigner makes SSH signatures in the SSHSIG format that Git verifies with
// gpg.format=ssh (https://github.com/openssh/openssh-portable/blob/master/PROTOCOL.sshsig).
type sshSigner struct {
	signer ssh.Signer
}

// NewSSHSigner returns a Signer for an SSH private key in PEM format,
// decrypted with passphrase when it is encrypted. Git verifies such commits
// with gpg.format=ssh and an allowed-signers file.
func NewSSHSigner(pemKey, passphrase []byte) (Signer, error) {
	var signer ssh.Signer
	var err error
	if len(passphrase) > 0 {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pemKey, passphrase)
	} else {
		signer, err = ssh.ParsePrivateKey(pemKey)
	}
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("reading SSH signing key: %w: the key is encrypted and no passphrase is set", ErrInvalidOptions)
	}
	if err != nil {
		return nil, fmt.Errorf("reading SSH signing key: %w", err)
	}
	return &sshSigner{signer: signer}, nil
}

const (
	sshsigMagic     = "SSHSIG"
	sshsigNamespace = "git"
	sshsigHash      = "sha512"
)

func (s *sshSigner) Sign(message io.Reader) ([]byte, error) {
	h := sha512.New()
	if _, err := io.Copy(h, message); err != nil {
		return nil, fmt.Errorf("signing commit with SSH: %w", err)
	}
	signed := append([]byte(sshsigMagic), ssh.Marshal(struct {
		Namespace, Reserved, Hash string
		Digest                    []byte
	}{sshsigNamespace, "", sshsigHash, h.Sum(nil)})...)

	var sig *ssh.Signature
	var err error
	if as, ok := s.signer.(ssh.AlgorithmSigner); ok && s.signer.PublicKey().Type() == ssh.KeyAlgoRSA {
		// SHA-1 RSA signatures are refused by current OpenSSH.
		sig, err = as.SignWithAlgorithm(nil, signed, ssh.KeyAlgoRSASHA512)
	} else {
		sig, err = s.signer.Sign(nil, signed)
	}
	if err != nil {
		return nil, fmt.Errorf("signing commit with SSH: %w", err)
	}
	blob := append([]byte(sshsigMagic), ssh.Marshal(struct {
		Version   uint32
		PublicKey []byte
		Namespace string
		Reserved  string
		Hash      string
		Signature []byte
	}{1, s.signer.PublicKey().Marshal(), sshsigNamespace, "", sshsigHash, ssh.Marshal(sig)})...)

	enc := base64.StdEncoding.EncodeToString(blob)
	var b strings.Builder
	b.WriteString("-----BEGIN SSH SIGNATURE-----\n")
	for len(enc) > 70 {
		b.WriteString(enc[:70] + "\n")
		enc = enc[70:]
	}
	b.WriteString(enc + "\n-----END SSH SIGNATURE-----\n")
	return []byte(b.String()), nil
}
