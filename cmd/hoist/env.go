package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/registry"
)

// registryFlags are the flags of every command that reads registries.
type registryFlags struct {
	stateDir   string
	secretsDir string
	caFile     string
	rateLimit  float64
	maxConns   int
	noCache    bool
}

func (f *registryFlags) register(fs *pflag.FlagSet) {
	f.registerDirs(fs)
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file of extra CA certificates for registries")
	fs.Float64Var(&f.rateLimit, "registry-rps", 10, "requests per second per registry host")
	fs.IntVar(&f.maxConns, "registry-concurrency", 4, "concurrent requests per registry host")
	fs.BoolVar(&f.noCache, "no-cache", false, "do not read or write the registry cache")
}

// registerDirs registers only --state-dir and --secrets-dir, for commands
// that read secrets but no registry.
func (f *registryFlags) registerDirs(fs *pflag.FlagSet) {
	fs.StringVar(&f.stateDir, "state-dir", "", "state directory (caches, clones); default $XDG_STATE_HOME/hoist or ~/.local/state/hoist")
	fs.StringVar(&f.secretsDir, "secrets-dir", "", "directory of secrets named by secretRef, one folder per secret (default STATE_DIR/secrets)")
}

// stateDir resolves the order of docs/state-and-secrets.md: --state-dir
// (or HOIST_STATE_DIR), $XDG_STATE_HOME/hoist, ~/.local/state/hoist.
func (f *registryFlags) resolveStateDir() (string, error) {
	if f.stateDir != "" {
		return f.stateDir, nil
	}
	if x := os.Getenv("XDG_STATE_HOME"); x != "" {
		return filepath.Join(x, "hoist"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the state directory (set --state-dir): %w", err)
	}
	return filepath.Join(home, ".local", "state", "hoist"), nil
}

// scanner builds the registry client and the scanner; close releases the
// cache.
func (f *registryFlags) scanner(stderr io.Writer, extra ...registry.Option) (s *automation.Scanner, closeFn func(), err error) {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	state, err := f.resolveStateDir()
	if err != nil {
		return nil, nil, usage(err)
	}
	secrets := f.secretsDir
	if secrets == "" {
		secrets = filepath.Join(state, "secrets")
	}
	opts := []registry.Option{
		registry.WithLogger(logger),
		registry.WithRateLimit(f.rateLimit, max(1, int(f.rateLimit))),
		registry.WithMaxConcurrency(f.maxConns),
		registry.WithUserAgent("hoist/" + currentVersion().Version),
	}
	if f.caFile != "" {
		opts = append(opts, registry.WithCAFile(f.caFile))
	}
	closeFn = func() {}
	if !f.noCache {
		cache, err := registry.OpenCache(filepath.Join(state, "registry-cache.db"), logger)
		if err != nil {
			if !errors.Is(err, registry.ErrCacheLocked) {
				return nil, nil, err
			}
			logger.Warn("registry cache in use by another hoist; running without it", "error", err)
		} else {
			opts = append(opts, registry.WithCache(cache))
			closeFn = func() { _ = cache.Close() }
		}
	}
	client, err := registry.New(append(opts, extra...)...)
	if err != nil {
		closeFn()
		return nil, nil, usage(err)
	}
	return &automation.Scanner{Registry: client, SecretsDir: secrets}, closeFn, nil
}
