package automation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/hoist-dev/hoist/automation/state"
	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/notify"
	"github.com/hoist-dev/hoist/registry"
	"github.com/hoist-dev/hoist/writeback/git"
)

// Options are what a driver of the loop knows from its flags and its
// environment: where state and secrets live, how to reach registries, and
// the Git credentials of repositories without a secretRef. New and
// NewScanner build the loop's objects from them, in this one place, for the
// command line, the service and the controller alike.
type Options struct {
	// StateDir holds the registry cache, the Git clones and the state
	// store. Default: DefaultStateDir.
	StateDir string
	// SecretsDir holds the secrets named by secretRef, one folder per
	// secret (DIR/NAME/KEY). Default: StateDir/secrets.
	SecretsDir string
	// Registry configures the registry client.
	Registry RegistryOptions
	// Git holds the credentials of Git repositories without a secretRef.
	Git GitOptions
	// Logger receives one line per decision of a run; nil discards.
	Logger *slog.Logger
	// Metrics, when set, counts what runs do, and the registry client's
	// requests and rate-limit waits.
	Metrics *Metrics
	// DryRun plans and reports, and writes, commits and pushes nothing.
	DryRun bool
	// AllowArgoCDExtCredentials runs the scripts of Argo CD Image
	// Updater's ext:/SCRIPT pull secrets (see Scanner.AllowExtCredentials).
	AllowArgoCDExtCredentials bool
}

// RegistryOptions configure the registry client (see package registry).
type RegistryOptions struct {
	// CAFile is a PEM file of extra CA certificates; "" for none.
	CAFile string
	// RateLimit is requests per second per registry host (the burst is
	// the same, at least 1).
	RateLimit float64
	// MaxConcurrency bounds the concurrent requests per registry host.
	MaxConcurrency int
	// NoCache neither reads nor writes the registry cache.
	NoCache bool
	// UserAgent is the User-Agent of registry requests.
	UserAgent string
	// Logger receives the client's and the cache's warnings; nil
	// discards.
	Logger *slog.Logger
}

// GitOptions are the credentials of Git repositories without a secretRef:
// a token for HTTPS, and for SSH the user's own setup (ssh-agent through
// SSH_AUTH_SOCK, ~/.ssh) unless a key and known hosts are given.
type GitOptions struct {
	// TokenFile is a file holding an HTTPS token (--git-token-file).
	TokenFile string
	// TokenEnv is an environment variable holding one (--git-token-env).
	TokenEnv string
	// SSHKey is an unencrypted private key file (--ssh-key).
	SSHKey string
	// KnownHosts is a known_hosts file (--known-hosts); default
	// ~/.ssh/known_hosts.
	KnownHosts string
}

// DefaultStateDir is the state directory without a flag: $XDG_STATE_HOME/hoist,
// else ~/.local/state/hoist (see docs/state-and-secrets.md).
func DefaultStateDir() (string, error) {
	if x := os.Getenv("XDG_STATE_HOME"); x != "" {
		return filepath.Join(x, "hoist"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the state directory (set --state-dir): %w", err)
	}
	return filepath.Join(home, ".local", "state", "hoist"), nil
}

// dirs fills StateDir and SecretsDir.
func (o *Options) dirs() error {
	if o.StateDir == "" {
		d, err := DefaultStateDir()
		if err != nil {
			return err
		}
		o.StateDir = d
	}
	if o.SecretsDir == "" {
		o.SecretsDir = filepath.Join(o.StateDir, "secrets")
	}
	return nil
}

// ResolveSecretsDir returns o's secrets directory, defaults filled.
func (o Options) ResolveSecretsDir() (string, error) {
	if err := o.dirs(); err != nil {
		return "", err
	}
	return o.SecretsDir, nil
}

// NewScanner builds the registry client (with the cache in the state
// directory unless Registry.NoCache) and the Scanner on it. Close the
// scanner to release the cache.
func NewScanner(o Options) (*Scanner, error) {
	if err := o.dirs(); err != nil {
		return nil, err
	}
	logger := o.Registry.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ro := o.Registry
	opts := []registry.Option{
		registry.WithLogger(logger),
		registry.WithRateLimit(ro.RateLimit, max(1, int(ro.RateLimit))),
		registry.WithMaxConcurrency(ro.MaxConcurrency),
	}
	if ro.UserAgent != "" {
		opts = append(opts, registry.WithUserAgent(ro.UserAgent))
	}
	if ro.CAFile != "" {
		opts = append(opts, registry.WithCAFile(ro.CAFile))
	}
	if o.Metrics != nil {
		opts = append(opts, registry.WithRequestObserver(o.Metrics.ObserveRequest), registry.WithWaitObserver(o.Metrics.RateLimitWait))
	}
	s := &Scanner{SecretsDir: o.SecretsDir, AllowExtCredentials: o.AllowArgoCDExtCredentials}
	if !ro.NoCache {
		cache, err := registry.OpenCache(filepath.Join(o.StateDir, "registry-cache.db"), logger)
		if err != nil {
			if !errors.Is(err, registry.ErrCacheLocked) {
				return nil, err
			}
			logger.Warn("registry cache in use by another hoist; running without it", "error", err)
		} else {
			opts = append(opts, registry.WithCache(cache))
			s.close = func() { _ = cache.Close() }
		}
	}
	client, err := registry.New(opts...)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Registry = client
	return s, nil
}

// Close releases the registry cache of a Scanner that NewScanner built.
func (s *Scanner) Close() {
	if s.close != nil {
		s.close()
		s.close = nil
	}
}

// New builds the Runner of o: its Scanner, the state store in the state
// directory and the Git credentials. Close it to release the cache and the
// store.
func New(o Options) (*Runner, error) {
	if err := o.dirs(); err != nil {
		return nil, err
	}
	scanner, err := NewScanner(o)
	if err != nil {
		return nil, err
	}
	store, err := state.Open(state.Path(o.StateDir), o.Logger)
	if err != nil {
		scanner.Close()
		return nil, err
	}
	r := &Runner{
		Scanner:    scanner,
		StateDir:   o.StateDir,
		SecretsDir: o.SecretsDir,
		State:      store,
		Logger:     o.Logger,
		Metrics:    o.Metrics,
		DryRun:     o.DryRun,
		Notifier:   notify.New(o.SecretsDir, notify.WithLogger(logOrDiscard(o.Logger))),
	}
	if r.GitAuth, err = o.Git.Auth(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func logOrDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Close releases the state store and the registry cache of a Runner that
// New built.
func (r *Runner) Close() {
	r.clones.Reset()
	if r.State != nil {
		// It writes the success times of runs at rest it kept back.
		if err := r.State.Close(); err != nil {
			r.logger().Warn("closing the state store", "error", err)
		}
	}
	if r.Scanner != nil {
		r.Scanner.Close()
	}
}

// RunOnce is hoist run --once: it builds the Runner of o, runs every
// automation of set once (RunAll) and releases the Runner.
func RunOnce(ctx context.Context, o Options, set *config.Set) ([]RunResult, error) {
	r, err := New(o)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.RunAll(ctx, set), nil
}

// Auth builds the credentials of o.
func (o GitOptions) Auth() (git.Auth, error) {
	var (
		tok string
		err error
	)
	switch {
	case o.TokenFile != "" && o.TokenEnv != "":
		return git.Auth{}, errors.New("give --git-token-file or --git-token-env, not both")
	case o.TokenFile != "":
		tok, err = git.ReadTokenFile(o.TokenFile)
	case o.TokenEnv != "":
		tok, err = git.TokenFromEnv(os.LookupEnv, o.TokenEnv)
	}
	if err != nil {
		return git.Auth{}, err
	}
	var auth git.Auth
	if home, err := os.UserHomeDir(); err == nil {
		if auth, err = git.UserSSH(filepath.Join(home, ".ssh"), os.Getenv("SSH_AUTH_SOCK")); err != nil {
			return git.Auth{}, err
		}
	}
	auth.Password = tok
	if o.SSHKey != "" {
		if auth.Identity, err = os.ReadFile(o.SSHKey); err != nil {
			return git.Auth{}, fmt.Errorf("--ssh-key: %w", err)
		}
		if _, err := ssh.ParsePrivateKey(auth.Identity); err != nil {
			return git.Auth{}, fmt.Errorf("--ssh-key %s: %w (an encrypted key goes into ssh-agent)", o.SSHKey, err)
		}
	}
	if o.KnownHosts != "" {
		if auth.KnownHosts, err = os.ReadFile(o.KnownHosts); err != nil {
			return git.Auth{}, fmt.Errorf("--known-hosts: %w", err)
		}
	}
	return auth, nil
}
