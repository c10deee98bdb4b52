package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	// Drivers and access controllers register themselves with distribution.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// RegistryAuth selects how a test registry authenticates clients.
type RegistryAuth int

// The authentication modes of NewRegistry.
const (
	// AuthNone serves everyone.
	AuthNone RegistryAuth = iota
	// AuthBasic asks for HTTP basic credentials, checked against htpasswd.
	AuthBasic
	// AuthToken asks for bearer tokens, issued by a token server on its own
	// 127.0.0.1 port for the registry's basic credentials (see TokenServer).
	AuthToken
)

// RegistryOptions configures NewRegistry.
type RegistryOptions struct {
	// Auth is the authentication mode. Default: AuthNone.
	Auth RegistryAuth
	// Username and Password are the credentials of AuthBasic and AuthToken.
	// Default: "hoist" and a password unique to the registry.
	Username, Password string
	// AnonymousPull lets the token server of AuthToken issue pull tokens to
	// clients without credentials, as Docker Hub does. Default: refused.
	AnonymousPull bool
	// TLS serves HTTPS with httptest's certificate for 127.0.0.1 (see
	// Registry.CACert). Default: plain HTTP.
	TLS bool
	// NotifyURL, when set, is where the registry sends its notifications
	// (push and pull events, Distribution's envelope), with NotifyHeaders
	// on every request. Default: no notifications.
	NotifyURL     string
	NotifyHeaders http.Header
	// Accept, when set, decides which basic credentials the token server
	// of AuthToken accepts instead of Username and Password: a fake cloud
	// login passes the tokens it issued. Default: Username and Password.
	Accept func(user, password string) bool
	// RealmOnIP names the token server's realm by its address 127.0.0.1
	// rather than "localhost", so that clients see a realm on a loopback IP
	// literal (which go-containerregistry refuses unless it is the
	// registry's own host:port). Default: "localhost".
	RealmOnIP bool
}

// Registry is a CNCF Distribution registry (distribution/v3, in-process,
// filesystem storage in a temporary directory) listening on 127.0.0.1 over
// plain HTTP (or HTTPS with RegistryOptions.TLS). Every request passes through Faults, which can break it, and
// is logged in Faults' request log.
type Registry struct {
	// URL is "http://127.0.0.1:PORT".
	URL string
	// Host is "127.0.0.1:PORT", the registry part of image references.
	Host string
	// Username and Password are the credentials when Auth is not AuthNone.
	Username, Password string
	// Faults sits in front of the registry: add faults to it, read what
	// reached the registry from it.
	Faults *Faults
	// Token is the token server of AuthToken, else nil.
	Token *TokenServer
	// CACert is the PEM certificate to trust when TLS is set, else nil.
	CACert []byte

	root   string
	client *http.Client // trusts the server's certificate, for pushes
	stop   func()
}

// NewRegistry starts a registry for the test and stops it in t.Cleanup.
func NewRegistry(t testing.TB, opts RegistryOptions) *Registry {
	t.Helper()
	dir := t.TempDir()
	r := &Registry{root: filepath.Join(fastTempDir(t), "storage")}
	if opts.Auth != AuthNone {
		r.Username = opts.Username
		r.Password = opts.Password
		if r.Username == "" {
			r.Username = "hoist"
		}
		if r.Password == "" {
			r.Password = "pw-" + registryRandomHex(t, 8)
		}
	}

	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": r.root},
			"delete":     configuration.Parameters{"enabled": true},
			"redirect":   configuration.Parameters{"disable": true},
		},
	}
	cfg.HTTP.Secret = "hoist-testenv-" + registryRandomHex(t, 8)
	cfg.Log.AccessLog.Disabled = true
	cfg.Log.Level = "error"

	switch opts.Auth {
	case AuthBasic:
		hash, err := bcrypt.GenerateFromPassword([]byte(r.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatalf("hashing registry password: %v", err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(r.Username+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Auth = configuration.Auth{"htpasswd": configuration.Parameters{"realm": "hoist-test", "path": htpasswd}}
	case AuthToken:
		r.Token = newTokenServer(t, dir, r.Username, r.Password, opts.AnonymousPull, opts.Accept, opts.RealmOnIP)
		cfg.Auth = configuration.Auth{"token": r.Token.accessControllerParameters()}
	}

	if opts.NotifyURL != "" {
		cfg.Notifications.Endpoints = []configuration.Endpoint{{
			Name: "hoist", URL: opts.NotifyURL, Headers: opts.NotifyHeaders,
			Timeout: 2 * time.Second, Threshold: 5, Backoff: 100 * time.Millisecond,
		}}
	}
	quietDistribution()
	ctx, cancel := context.WithCancel(context.Background())
	app := handlers.NewApp(ctx, cfg)
	r.Faults = NewFaults(app)
	srv := httptest.NewUnstartedServer(r.Faults)
	if opts.TLS {
		srv.StartTLS()
		r.CACert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	} else {
		srv.Start()
	}
	r.stop = sync.OnceFunc(func() {
		srv.CloseClientConnections()
		srv.Close()
		cancel()
	})
	t.Cleanup(r.stop)
	r.URL = srv.URL
	r.Host = strings.TrimPrefix(strings.TrimPrefix(srv.URL, "http://"), "https://")
	r.client = srv.Client()
	return r
}

// Ref returns the reference of repository repo on this registry, with
// tagOrDigest appended after ":" or "@" when given.
func (r *Registry) Ref(repo, tagOrDigest string) string {
	switch {
	case tagOrDigest == "":
		return r.Host + "/" + repo
	case strings.Contains(tagOrDigest, ":"):
		return r.Host + "/" + repo + "@" + tagOrDigest
	}
	return r.Host + "/" + repo + ":" + tagOrDigest
}

// Stop stops the registry: from then on connections to its port are
// refused, as when a registry is down. Stopping twice is harmless.
func (r *Registry) Stop() { r.stop() }

// DeleteRepository removes repository repo with all its tags from the
// registry's storage, as an administrator deleting it would: the registry
// then answers 404 NAME_UNKNOWN for it.
func (r *Registry) DeleteRepository(t testing.TB, repo string) {
	t.Helper()
	dir := filepath.Join(r.root, "docker", "registry", "v2", "repositories", filepath.FromSlash(repo))
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("deleting repository %s: %v", repo, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("deleting repository %s: %v", repo, err)
	}
}

// String names the registry in test output.
func (r *Registry) String() string { return fmt.Sprintf("registry %s", r.URL) }

// fastTempDir is a temporary directory in memory (/dev/shm) when the machine
// has one, else t.TempDir(): a registry's storage is many small files, and
// tests with thousands of tags create tens of thousands of them.
func fastTempDir(t testing.TB) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "hoist-testenv-"); err == nil {
			t.Cleanup(func() { _ = os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}

var quietOnce sync.Once

// quietDistribution keeps Distribution's log lines (one per auth challenge
// and per 404, which tests cause on purpose) out of test output. Distribution logs through logrus's
// standard logger, which only a process-wide setting quiets; cfg.Log is
// applied by its command, not by handlers.NewApp.
func quietDistribution() {
	quietOnce.Do(func() { logrus.SetLevel(logrus.FatalLevel) })
}

// registryRandomHex returns n random bytes in hex.
func registryRandomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
