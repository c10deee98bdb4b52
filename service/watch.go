package service

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hoist-dev/hoist/config"
)

// ConfigWatcher defaults, as documented on ConfigWatcherOptions.
const (
	DefaultPollInterval = 2 * time.Second
	DefaultDebounce     = 500 * time.Millisecond
)

// ConfigWatcherOptions configures a ConfigWatcher. The zero value gives the
// defaults.
type ConfigWatcherOptions struct {
	// Interval is the time between two looks at the files.
	// Default: DefaultPollInterval (2s).
	Interval time.Duration
	// Debounce is how long the files must stay unchanged after a change was
	// seen before they are loaded, so that a burst of edits (a git pull, an
	// editor's save) makes one reload. Default: DefaultDebounce (500ms);
	// negative: load as soon as a change is seen.
	Debounce time.Duration
	// Clock is the time source. Default: SystemClock.
	Clock Clock
	// OnChange is called with each valid configuration loaded after a
	// change. Default: none.
	OnChange func(*config.Set)
	// OnError is called when the configuration changed but does not load;
	// the last good Set stays current. It is called once per broken
	// version of the files, not on every look. Default: none.
	OnError func(error)
}

// ConfigWatcher reloads the configuration when its files change. It polls
// each file's path, size and modification time (following symbolic links,
// so a Kubernetes ConfigMap volume's swap is seen) rather than subscribing
// to file system events. Directories are read as config.Load reads them:
// *.yaml and *.yml files, recursively, skipping directories whose names
// start with a dot.
type ConfigWatcher struct {
	paths []string
	o     ConfigWatcherOptions

	mu      sync.Mutex
	current *config.Set
	seen    fingerprint // files last loaded, or tried
	hasSeen bool
	started bool
}

// fingerprint sums (path, size, mtime) of every file the configuration is
// read from.
type fingerprint [sha256.Size]byte

// NewConfigWatcher returns a watcher of paths, the files and directories
// given to config.Load. Call Load for the first Set, then Run.
func NewConfigWatcher(paths []string, o ConfigWatcherOptions) *ConfigWatcher {
	if o.Interval <= 0 {
		o.Interval = DefaultPollInterval
	}
	if o.Debounce == 0 {
		o.Debounce = DefaultDebounce
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	return &ConfigWatcher{paths: slices.Clone(paths), o: o}
}

// Load loads the configuration now, as at start-up, without calling the
// callbacks. A valid Set becomes current. Run reloads only after files
// change from what Load (or Run's start) saw.
func (w *ConfigWatcher) Load() (*config.Set, error) {
	fp := configFingerprint(w.paths)
	set, err := config.Load(w.paths...)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen, w.hasSeen = fp, true
	if err != nil {
		return nil, err
	}
	w.current = set
	return set, nil
}

// Current returns the last valid Set, or nil before one was loaded.
func (w *ConfigWatcher) Current() *config.Set {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.current
}

// Run looks at the files every interval until ctx is done, and reloads them
// when they changed. The callbacks are called from Run's goroutine, one at
// a time. It returns nil when ctx is done.
func (w *ConfigWatcher) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return fmt.Errorf("config watcher: %w", ErrAlreadyRunning)
	}
	w.started = true
	if !w.hasSeen {
		w.seen, w.hasSeen = configFingerprint(w.paths), true
	}
	seen := w.seen
	w.mu.Unlock()

	var candidate *fingerprint // a change seen, waiting to settle
	wait := w.o.Interval
	for {
		t := w.o.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
		fp := configFingerprint(w.paths)
		wait = w.o.Interval
		switch {
		case fp == seen:
			candidate = nil
		case w.o.Debounce > 0 && (candidate == nil || *candidate != fp):
			candidate, wait = &fp, w.o.Debounce
		default:
			candidate, seen = nil, fp
			w.reload(fp)
		}
	}
}

func (w *ConfigWatcher) reload(fp fingerprint) {
	set, err := config.Load(w.paths...)
	w.mu.Lock()
	w.seen = fp
	if err == nil {
		w.current = set
	}
	w.mu.Unlock()
	if err != nil {
		if w.o.OnError != nil {
			w.o.OnError(fmt.Errorf("reloading configuration: %w", err))
		}
		return
	}
	if w.o.OnChange != nil {
		w.o.OnChange(set)
	}
}

// configFingerprint sums what config.Load would read from paths. A path
// that cannot be read is summed with its error, so that it going away or
// coming back is a change.
func configFingerprint(paths []string) fingerprint {
	h := sha256.New()
	buf := make([]byte, 0, 512)
	add := func(parts ...string) {
		buf = buf[:0]
		for _, p := range parts {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(len(p)))
			buf = append(buf, p...)
		}
		h.Write(buf)
	}
	file := func(path string) {
		info, err := os.Stat(path)
		if err != nil {
			add("error", path, errText(err))
			return
		}
		add("file", path)
		buf = binary.LittleEndian.AppendUint64(buf[:0], uint64(info.Size()))
		buf = binary.LittleEndian.AppendUint64(buf, uint64(info.ModTime().UnixNano()))
		h.Write(buf)
	}
	for _, root := range paths {
		info, err := os.Stat(root)
		if err != nil {
			add("error", root, errText(err))
			continue
		}
		if !info.IsDir() {
			file(root)
			continue
		}
		err = filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				add("error", path, errText(err))
				return nil
			}
			if e.IsDir() {
				if path != root && strings.HasPrefix(e.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if ext := filepath.Ext(path); ext == ".yaml" || ext == ".yml" {
				file(path)
			}
			return nil
		})
		if err != nil {
			add("error", root, errText(err))
		}
	}
	var fp fingerprint
	h.Sum(fp[:0])
	return fp
}

// errText is the kind of a file error, stable between looks.
func errText(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "not exist"
	case errors.Is(err, fs.ErrPermission):
		return "permission"
	default:
		return err.Error()
	}
}
