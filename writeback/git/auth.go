package git

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Auth holds the credentials for a Git remote, with the keys of a Flux
// GitRepository secret (see AuthFromSecretDir). Its String, GoString and
// LogValue methods never print a secret.
type Auth struct {
	// Username and Password authenticate over HTTP(S) with basic auth. A
	// Password without Username is sent with the user name "git", which
	// GitHub, GitLab and Gitea accept for tokens. For SSH, Password is the
	// passphrase of Identity, as in Flux.
	Username string
	Password string
	// BearerToken authenticates over HTTP(S) with an
	// "Authorization: Bearer" header; it takes precedence over Password.
	BearerToken string
	// Identity is an SSH private key in PEM (OpenSSH, PKCS#1 or PKCS#8)
	// format.
	Identity []byte
	// AgentSocket is the path of an ssh-agent socket (SSH_AUTH_SOCK) whose
	// keys are offered over SSH when Identity is empty. Never set from a
	// secret: it is the setup of the user running hoist (see UserSSH).
	AgentSocket string
	// KnownHosts holds known_hosts lines for the SSH server; required for
	// SSH remotes unless InsecureIgnoreHostKey is set.
	KnownHosts []byte
	// InsecureIgnoreHostKey accepts any SSH host key. Off by default, and
	// never set from a secret.
	InsecureIgnoreHostKey bool
	// CABundle holds PEM certificates trusted for HTTPS in addition to the
	// system's.
	CABundle []byte
	// GitHubApp, when set, authenticates over HTTP(S) with the app's
	// installation tokens, minted and refreshed as needed; it takes
	// precedence over BearerToken and Password (GitRepository
	// spec.provider github).
	GitHubApp *GitHubApp
}

// Secret key names, as in Flux's GitRepository secrets.
const (
	KeyUsername    = "username"
	KeyPassword    = "password"
	KeyBearerToken = "bearerToken"
	KeyIdentity    = "identity"
	KeyKnownHosts  = "known_hosts"
	KeyCACert      = "ca.crt"
	// keyCAFileLegacy is the CA key of Flux's older secrets.
	keyCAFileLegacy = "caFile"
)

// AuthFromSecretDir reads a Git secret from dir, a directory with one file
// per key as Kubernetes mounts a Secret (DIR/KEY): username, password,
// bearerToken, identity, known_hosts and ca.crt (or caFile). Missing keys
// stay empty; other files, such as identity.pub or Kubernetes' "..data",
// are ignored. Leading and trailing white space is trimmed from username,
// password and bearerToken.
func AuthFromSecretDir(dir string) (Auth, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return Auth{}, fmt.Errorf("reading git secret %q: %w", dir, err)
	}
	if !info.IsDir() {
		return Auth{}, fmt.Errorf("reading git secret %q: not a directory", dir)
	}
	read := func(key string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, key))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading git secret %q key %q: %w", dir, key, err)
		}
		return b, nil
	}
	var a Auth
	text := map[string]*string{KeyUsername: &a.Username, KeyPassword: &a.Password, KeyBearerToken: &a.BearerToken}
	for key, dst := range text {
		b, err := read(key)
		if err != nil {
			return Auth{}, err
		}
		*dst = strings.TrimSpace(string(b))
	}
	raw := map[string]*[]byte{KeyIdentity: &a.Identity, KeyKnownHosts: &a.KnownHosts, KeyCACert: &a.CABundle}
	for key, dst := range raw {
		b, err := read(key)
		if err != nil {
			return Auth{}, err
		}
		*dst = b
	}
	if a.CABundle == nil {
		if a.CABundle, err = read(keyCAFileLegacy); err != nil {
			return Auth{}, err
		}
	}
	return a, nil
}

// KeyArgoSSHPrivateKey is the SSH key of Argo CD's repository Secrets,
// which Argo CD Image Updater's git:secret write-back names.
const KeyArgoSSHPrivateKey = "sshPrivateKey"

// ArgoAuthFromSecretDir reads a Git secret of Argo CD Image Updater's
// git:secret write-back: as AuthFromSecretDir, and an SSH key under Argo
// CD's sshPrivateKey when identity is absent (username and password are
// the same keys in both).
func ArgoAuthFromSecretDir(dir string) (Auth, error) {
	a, err := AuthFromSecretDir(dir)
	if err != nil || len(a.Identity) > 0 {
		return a, err
	}
	b, err := os.ReadFile(filepath.Join(dir, KeyArgoSSHPrivateKey))
	if errors.Is(err, fs.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return Auth{}, fmt.Errorf("reading git secret %q key %q: %w", dir, KeyArgoSSHPrivateKey, err)
	}
	a.Identity = b
	return a, nil
}

// ReadTokenFile reads a token from path, trimming white space; an empty file
// is an error.
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading token file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("reading token file %q: empty", path)
	}
	return tok, nil
}

// TokenFromEnv returns the value of the environment variable name, looked
// up with lookup (os.LookupEnv in production), trimming white space; an
// unset or empty variable is an error.
func TokenFromEnv(lookup func(string) (string, bool), name string) (string, error) {
	v, ok := lookup(name)
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		return "", fmt.Errorf("reading token from environment variable %q: not set", name)
	}
	return v, nil
}

// String describes which credentials are set without printing them.
func (a Auth) String() string {
	var parts []string
	if a.Username != "" {
		parts = append(parts, "username="+a.Username)
	}
	set := func(name string, ok bool) {
		if ok {
			parts = append(parts, name+"=set")
		}
	}
	set("password", a.Password != "")
	set("bearerToken", a.BearerToken != "")
	set("identity", len(a.Identity) > 0)
	set("agent", a.AgentSocket != "")
	set("known_hosts", len(a.KnownHosts) > 0)
	set("ca.crt", len(a.CABundle) > 0)
	if a.GitHubApp != nil {
		parts = append(parts, "githubApp="+a.GitHubApp.AppID)
	}
	if a.InsecureIgnoreHostKey {
		parts = append(parts, "insecureIgnoreHostKey")
	}
	return "Auth{" + strings.Join(parts, " ") + "}"
}

// GoString is String, so that %#v does not print secrets either.
func (a Auth) GoString() string { return a.String() }

// LogValue implements slog.LogValuer without secrets.
func (a Auth) LogValue() slog.Value { return slog.StringValue(a.String()) }

// secrets lists the values to redact from errors and to refuse in commit
// messages.
func (a Auth) secrets() []string {
	s := []string{a.Password, a.BearerToken}
	if a.GitHubApp != nil {
		s = append(s, a.GitHubApp.current())
	}
	return s
}

// AppFromSecretDir reads the GitHub App keys of a Git secret (Flux's key
// names: githubAppID, githubAppInstallationID, githubAppPrivateKey, and
// githubAppBaseURL for GitHub Enterprise Server) from dir, laid out as
// AuthFromSecretDir reads it. A missing required key is an error naming it.
func AppFromSecretDir(dir string) (*GitHubApp, error) {
	vals := map[string][]byte{}
	for _, key := range []string{KeyGitHubAppID, KeyGitHubAppInstallationID, KeyGitHubAppPrivateKey, KeyGitHubAppBaseURL} {
		b, err := os.ReadFile(filepath.Join(dir, key))
		if errors.Is(err, fs.ErrNotExist) {
			if key != KeyGitHubAppBaseURL {
				return nil, fmt.Errorf("reading git secret %q: %w: key %s is missing", dir, ErrGitHubApp, key)
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading git secret %q key %q: %w", dir, key, err)
		}
		vals[key] = b
	}
	app, err := NewGitHubApp(string(vals[KeyGitHubAppID]), string(vals[KeyGitHubAppInstallationID]), vals[KeyGitHubAppPrivateKey], string(vals[KeyGitHubAppBaseURL]))
	if err != nil {
		return nil, fmt.Errorf("reading git secret %q: %w", dir, err)
	}
	return app, nil
}

// method builds go-git's auth method for the remote.
func (a Auth) method(remote RemoteURL) (transport.AuthMethod, error) {
	switch {
	case remote.IsHTTP():
		switch {
		case a.GitHubApp != nil:
			return &gitHubAppAuth{app: a.GitHubApp}, nil
		case a.BearerToken != "":
			return &githttp.TokenAuth{Token: a.BearerToken}, nil
		case a.Password != "":
			user := a.Username
			if user == "" {
				user = "git"
			}
			return &githttp.BasicAuth{Username: user, Password: a.Password}, nil
		case a.Username != "":
			return &githttp.BasicAuth{Username: a.Username}, nil
		}
		return nil, nil
	case remote.IsSSH():
		return a.sshMethod(remote)
	}
	return nil, nil
}

func (a Auth) sshMethod(remote RemoteURL) (transport.AuthMethod, error) {
	user := remote.User
	if user == "" {
		user = "git"
	}
	var (
		method transport.AuthMethod
		hosts  *gitssh.HostKeyCallbackHelper
	)
	switch {
	case a.AgentSocket != "":
		// As OpenSSH does: the agent's keys, then the identity.
		var own []ssh.Signer
		if len(a.Identity) > 0 {
			signer, err := a.signer(remote)
			if err != nil {
				return nil, err
			}
			own = append(own, signer)
		}
		pk := &gitssh.PublicKeysCallback{User: user, Callback: agentSigners(a.AgentSocket, own)}
		method, hosts = pk, &pk.HostKeyCallbackHelper
	case len(a.Identity) > 0:
		signer, err := a.signer(remote)
		if err != nil {
			return nil, err
		}
		pk := &gitssh.PublicKeys{User: user, Signer: signer}
		method, hosts = pk, &pk.HostKeyCallbackHelper
	default:
		return nil, fmt.Errorf("SSH remote %s: %w: no identity (private key) and no ssh-agent", remote, ErrInvalidOptions)
	}
	if a.InsecureIgnoreHostKey {
		hosts.HostKeyCallback = ssh.InsecureIgnoreHostKey() //nolint:gosec // explicitly asked for
		return method, nil
	}
	if len(a.KnownHosts) == 0 {
		return nil, fmt.Errorf("SSH remote %s: %w (host key checking is on)", remote, ErrNoKnownHosts)
	}
	db, err := knownHostsDB(a.KnownHosts)
	if err != nil {
		return nil, fmt.Errorf("SSH remote %s: %w", remote, err)
	}
	host := remote.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "22")
	}
	hosts.HostKeyCallback = hostKeyCallback(db.HostKeyCallback())
	hosts.HostKeyAlgorithms = db.HostKeyAlgorithms(host)
	return method, nil
}

// signer parses Identity, with Password as its passphrase.
func (a Auth) signer(remote RemoteURL) (ssh.Signer, error) {
	// Password is the passphrase only of an encrypted key: an HTTPS token
	// may sit beside an unencrypted key.
	signer, err := ssh.ParsePrivateKey(a.Identity)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) && a.Password != "" {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(a.Identity, []byte(a.Password))
	}
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("SSH identity for %s is encrypted and no passphrase (password) is set", remote)
	}
	if err != nil {
		// The parser's message does not contain key material.
		return nil, fmt.Errorf("parsing SSH identity for %s: %w", remote, err)
	}
	return signer, nil
}

// agentSigners returns the keys of the ssh-agent listening on socket, read
// at each connection, followed by own. When the agent cannot be reached and
// own is not empty, own alone is offered. The agent signs through the
// connection, which stays open for the SSH handshake; it is closed when it
// is collected (net's finalizer), since go-git gives the method no hook to
// close it.
func agentSigners(socket string, own []ssh.Signer) func() ([]ssh.Signer, error) {
	return func() ([]ssh.Signer, error) {
		// go-git's callback carries no context; the dial is bounded.
		d := net.Dialer{Timeout: 10 * time.Second}
		conn, err := d.DialContext(context.Background(), "unix", socket)
		if err != nil {
			if len(own) > 0 {
				return own, nil
			}
			return nil, fmt.Errorf("connecting to ssh-agent: %w", err)
		}
		signers, err := agent.NewClient(conn).Signers()
		if err != nil {
			_ = conn.Close()
			if len(own) > 0 {
				return own, nil
			}
			return nil, fmt.Errorf("listing ssh-agent keys: %w", err)
		}
		signers = append(signers, own...)
		if len(signers) == 0 {
			_ = conn.Close()
			return nil, errors.New("ssh-agent holds no keys")
		}
		return signers, nil
	}
}

// Default identity files of OpenSSH's client, in the order it tries them.
var defaultIdentities = []string{"id_ed25519", "id_ecdsa", "id_rsa"}

// UserSSH returns the SSH setup of the user running hoist, found as
// OpenSSH's client finds it, for repositories whose GitRepository names no
// secretRef: known_hosts from dir/known_hosts (dir is usually ~/.ssh), keys
// from the ssh-agent at agentSocket (SSH_AUTH_SOCK) when it is set, else the
// first of dir/id_ed25519, id_ecdsa and id_rsa that exists and needs no
// passphrase (offered after the agent's keys). Missing files are not
// errors: an SSH remote then fails with the reason when it is used.
func UserSSH(dir, agentSocket string) (Auth, error) {
	var a Auth
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", filepath.Join(dir, name), err)
		}
		return b, nil
	}
	var err error
	if a.KnownHosts, err = read("known_hosts"); err != nil {
		return Auth{}, err
	}
	a.AgentSocket = agentSocket
	for _, name := range defaultIdentities {
		b, err := read(name)
		if err != nil {
			return Auth{}, err
		}
		if b == nil {
			continue
		}
		if _, err := ssh.ParsePrivateKey(b); err != nil {
			// Encrypted or not a key: OpenSSH would ask for a
			// passphrase; hoist cannot, so it tries the next one.
			continue
		}
		a.Identity = b
		break
	}
	return a, nil
}

// knownHostsDB parses known_hosts content. The parser reads files only, so
// the content goes through a private temporary file that is removed at once.
func knownHostsDB(content []byte) (*knownhosts.HostKeyDB, error) {
	f, err := os.CreateTemp("", "hoist-known-hosts-*")
	if err != nil {
		return nil, fmt.Errorf("parsing known_hosts: %w", err)
	}
	defer func() { _ = os.Remove(f.Name()) }()
	_, werr := f.Write(content)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return nil, fmt.Errorf("parsing known_hosts: %w", err)
	}
	db, err := knownhosts.NewDB(f.Name())
	if err != nil {
		return nil, fmt.Errorf("parsing known_hosts: %s", strings.ReplaceAll(err.Error(), f.Name(), "known_hosts"))
	}
	return db, nil
}

// hostKeyCallback turns knownhosts' errors into ErrUnknownHost and
// ErrHostKeyMismatch.
func hostKeyCallback(cb ssh.HostKeyCallback) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(hostname, remote, key)
		switch {
		case err == nil:
			return nil
		case knownhosts.IsHostUnknown(err):
			return fmt.Errorf("%w: %s (%s key %s)", ErrUnknownHost, hostname, key.Type(), ssh.FingerprintSHA256(key))
		case knownhosts.IsHostKeyChanged(err):
			return fmt.Errorf("%w: %s presented %s key %s", ErrHostKeyMismatch, hostname, key.Type(), ssh.FingerprintSHA256(key))
		}
		return err
	}
}
