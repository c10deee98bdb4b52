package service

import (
	"context"
	"errors"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/config"
)

// Source delivers the configuration a Service runs. The default is the
// files of ServiceOptions.ConfigPaths, watched by a ConfigWatcher; the
// Kubernetes controller is a source of the documents of the API server.
type Source interface {
	// Load returns the first configuration; an invalid one is an error.
	Load() (*config.Set, error)
	// Run calls apply with each new valid configuration, one at a time,
	// until ctx is done.
	Run(ctx context.Context, apply func(*config.Set)) error
}

// Observer receives what the loop did, as each step ends, so that a
// driver can report it: the controller writes it into its documents'
// status. The service calls it from several goroutines at once; a call
// should return soon.
type Observer interface {
	// Scanned is called after each scan of an ImageRepository
	// (NAMESPACE/NAME) with its policies' selections (a failed policy has
	// Err set).
	Scanned(repository string, selections []automation.Selection)
	// Ran is called after each run of an automation, with what it pushed
	// or why it failed.
	Ran(result automation.RunResult)
}

// fileSource is the Source of configuration files: a ConfigWatcher made
// on the first Load.
type fileSource struct {
	paths []string
	o     ConfigWatcherOptions
	w     *ConfigWatcher
	apply func(*config.Set)
}

func (f *fileSource) Load() (*config.Set, error) {
	f.o.OnChange = func(set *config.Set) { f.apply(set) }
	f.w = NewConfigWatcher(f.paths, f.o)
	return f.w.Load()
}

func (f *fileSource) Run(ctx context.Context, apply func(*config.Set)) error {
	if f.w == nil {
		return errors.New("configuration source: Load first")
	}
	f.apply = apply
	return f.w.Run(ctx)
}
