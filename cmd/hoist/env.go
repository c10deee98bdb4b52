package main

import (
	"io"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/hoist-dev/hoist/automation"
)

// registryFlags are the flags of every command that reads registries.
type registryFlags struct {
	stateDir   string
	secretsDir string
	caFile     string
	rateLimit  float64
	maxConns   int
	noCache    bool
	// allowExt runs Argo CD Image Updater's ext: credential scripts.
	allowExt bool
}

func (f *registryFlags) register(fs *pflag.FlagSet) {
	f.registerDirs(fs)
	fs.StringVar(&f.caFile, "ca-file", "", "PEM file of extra CA certificates for registries")
	fs.Float64Var(&f.rateLimit, "registry-rps", 10, "requests per second per registry host")
	fs.IntVar(&f.maxConns, "registry-concurrency", 4, "concurrent requests per registry host")
	fs.BoolVar(&f.noCache, "no-cache", false, "do not read or write the registry cache")
	fs.BoolVar(&f.allowExt, "allow-argocd-ext-credentials", false, "run the scripts of Argo CD Image Updater's ext:/SCRIPT pull secrets (they print USER:PASSWORD); refused without it")
}

// registerDirs registers only --state-dir and --secrets-dir, for commands
// that read secrets but no registry.
func (f *registryFlags) registerDirs(fs *pflag.FlagSet) {
	fs.StringVar(&f.stateDir, "state-dir", "", "state directory (caches, clones); default $XDG_STATE_HOME/hoist or ~/.local/state/hoist")
	fs.StringVar(&f.secretsDir, "secrets-dir", "", "directory of secrets named by secretRef, one folder per secret (default STATE_DIR/secrets)")
}

// options are the loop's options of the flags; logger receives the runs'
// decisions, and the registry client's warnings go to stderr.
func (f *registryFlags) options(logger *slog.Logger, stderr io.Writer) automation.Options {
	return automation.Options{
		StateDir:   f.stateDir,
		SecretsDir: f.secretsDir,
		Registry: automation.RegistryOptions{
			CAFile:         f.caFile,
			RateLimit:      f.rateLimit,
			MaxConcurrency: f.maxConns,
			NoCache:        f.noCache,
			UserAgent:      "hoist/" + currentVersion().Version,
			Logger:         slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		},
		Logger:                    logger,
		AllowArgoCDExtCredentials: f.allowExt,
	}
}

// scanner builds the scanner of the flags; Close releases its cache.
func (f *registryFlags) scanner(stderr io.Writer) (*automation.Scanner, error) {
	s, err := automation.NewScanner(f.options(nil, stderr))
	if err != nil {
		return nil, usage(err)
	}
	return s, nil
}
