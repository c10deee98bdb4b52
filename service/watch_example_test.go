package service_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/service"
)

// The watcher reloads edited configuration; a broken edit is reported and
// the last good configuration keeps running.
func ExampleConfigWatcher() {
	dir, err := os.MkdirTemp("", "hoist-config")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = os.RemoveAll(dir) }()
	write := func(name, content string) { // atomically, as editors and git do
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path+".tmp", []byte(content), 0o644); err != nil {
			fmt.Println(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			fmt.Println(err)
		}
	}
	write("podinfo.yaml", repoDoc("podinfo"))

	changed := make(chan *config.Set)
	failed := make(chan error)
	w := service.NewConfigWatcher([]string{dir}, service.ConfigWatcherOptions{
		Interval: 10 * time.Millisecond, // default 2s
		Debounce: 10 * time.Millisecond, // default 500ms
		OnChange: func(set *config.Set) { changed <- set },
		OnError:  func(err error) { failed <- err },
	})
	set, err := w.Load() // at start-up: an invalid configuration stops here
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("policies:", len(set.Policies))

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = w.Run(ctx) }() // nil when ctx is done

	write("nginx.yaml", repoDoc("nginx"))
	fmt.Println("reloaded, policies:", len((<-changed).Policies))

	write("broken.yaml", "kind: ImagePolicy\napiVersion: hoist.dev/v1alpha1\nspec: [\n")
	if err := <-failed; err != nil {
		fmt.Println("broken edit reported, still running with policies:", len(w.Current().Policies))
	}
	// Output:
	// policies: 1
	// reloaded, policies: 2
	// broken edit reported, still running with policies: 2
}
