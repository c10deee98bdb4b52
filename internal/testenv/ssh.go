package testenv

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	gliderssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHKey is a generated key pair for tests.
type SSHKey struct {
	// PrivatePEM is the private key in OpenSSH PEM format, encrypted when
	// the key was made with a passphrase.
	PrivatePEM []byte
	// Public is the public key.
	Public gossh.PublicKey
	// Signer signs with the private key.
	Signer gossh.Signer
}

// AuthorizedKey is the public key in authorized_keys format (one line).
func (k SSHKey) AuthorizedKey() []byte { return gossh.MarshalAuthorizedKey(k.Public) }

// NewSSHKey generates an Ed25519 key pair; a non-empty passphrase encrypts
// PrivatePEM.
func NewSSHKey(t testing.TB, passphrase string) SSHKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var block *pem.Block
	if passphrase == "" {
		block, err = gossh.MarshalPrivateKey(priv, "hoist-test")
	} else {
		block, err = gossh.MarshalPrivateKeyWithPassphrase(priv, "hoist-test", []byte(passphrase))
	}
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return SSHKey{PrivatePEM: pem.EncodeToMemory(block), Public: signer.PublicKey(), Signer: signer}
}

// SSHGitServerOptions configures NewSSHGitServer.
type SSHGitServerOptions struct {
	// Root is the directory of the bare repositories; a path in a clone URL
	// is resolved under it. Default: a new temporary directory. Pass a
	// GitServer's Root to serve the same repositories over HTTP and SSH.
	Root string
	// AuthorizedKeys are the client keys the server accepts. Required.
	AuthorizedKeys []gossh.PublicKey
}

// SSHGitServer is an SSH server on 127.0.0.1 that runs git-upload-pack and
// git-receive-pack for the requested repository, with public-key
// authentication and an Ed25519 host key.
type SSHGitServer struct {
	// Addr is the host:port the server listens on.
	Addr string
	// Root is the directory of the bare repositories.
	Root string
	// HostKey is the server's host key.
	HostKey SSHKey
	// KnownHosts is a known_hosts line that trusts HostKey for Addr.
	KnownHosts []byte

	authorized [][]byte
	mu         sync.Mutex
	commands   []string
}

// NewSSHGitServer starts the server and stops it when the test ends.
func NewSSHGitServer(t testing.TB, opts SSHGitServerOptions) *SSHGitServer {
	t.Helper()
	if len(opts.AuthorizedKeys) == 0 {
		t.Fatal("NewSSHGitServer: no authorized keys")
	}
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	s := &SSHGitServer{Root: opts.Root, HostKey: NewSSHKey(t, "")}
	for _, k := range opts.AuthorizedKeys {
		s.authorized = append(s.authorized, k.Marshal())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	s.KnownHosts = []byte(knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey.Public) + "\n")

	srv := &gliderssh.Server{
		Handler: s.handle,
		PublicKeyHandler: func(_ gliderssh.Context, key gliderssh.PublicKey) bool {
			for _, k := range s.authorized {
				if bytes.Equal(k, key.Marshal()) {
					return true
				}
			}
			return false
		},
	}
	srv.AddHostKey(s.HostKey.Signer)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return s
}

// RepoURL is the ssh:// clone URL of repository name under Root.
func (s *SSHGitServer) RepoURL(name string) string {
	return "ssh://git@" + s.Addr + "/" + strings.TrimPrefix(name, "/")
}

// Commands returns the Git commands the server ran, such as
// "git-upload-pack /fleet.git".
func (s *SSHGitServer) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

func (s *SSHGitServer) handle(sess gliderssh.Session) {
	code, err := s.run(sess)
	if err != nil {
		_, _ = fmt.Fprintf(sess.Stderr(), "%v\n", err)
	}
	_ = sess.Exit(code)
}

func (s *SSHGitServer) run(sess gliderssh.Session) (int, error) {
	name, repo, err := parseGitSSHCommand(sess.RawCommand())
	if err != nil {
		return 128, err
	}
	dir := filepath.Join(s.Root, filepath.FromSlash(repo))
	if _, err := os.Stat(dir); err != nil {
		return 128, fmt.Errorf("repository %q not found", repo)
	}
	s.mu.Lock()
	s.commands = append(s.commands, name+" "+repo)
	s.mu.Unlock()

	cmd := exec.CommandContext(sess.Context(), name, dir)
	cmd.Env = GitEnv(s.Root)
	cmd.Stdout = sess
	cmd.Stderr = sess.Stderr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 128, err
	}
	if err := cmd.Start(); err != nil {
		return 128, err
	}
	// Copy the client's input without waiting for it: the client closes
	// its side only after it has read all of our output.
	go func() {
		_, _ = io.Copy(stdin, sess)
		_ = stdin.Close()
	}()
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 128, err
	}
	return 0, nil
}

// parseGitSSHCommand parses "git-upload-pack '/path/repo.git'" into the
// command and a clean relative repository path.
func parseGitSSHCommand(raw string) (name, repo string, err error) {
	name, arg, ok := strings.Cut(strings.TrimSpace(raw), " ")
	if !ok || (name != "git-upload-pack" && name != "git-receive-pack") {
		return "", "", fmt.Errorf("unsupported command %q", raw)
	}
	arg = strings.Trim(strings.TrimSpace(arg), `'"`)
	repo = strings.TrimPrefix(path.Clean("/"+arg), "/")
	if repo == "" {
		return "", "", fmt.Errorf("no repository in command %q", raw)
	}
	return name, repo, nil
}
