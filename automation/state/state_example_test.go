package state_test

import (
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hoist-dev/hoist/automation/state"
)

// The state store keeps the last selections and pushes across restarts.
func Example() {
	stateDir, err := os.MkdirTemp("", "hoist-state")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = os.RemoveAll(stateDir) }()
	path := filepath.Join(stateDir, state.File)
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

	store, err := state.Open(path, slog.Default())
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := store.PutSelection("apps:podinfo", state.SelectionRecord{
		Ref: "ghcr.io/stefanprodan/podinfo:6.7.1", Tag: "6.7.1", At: at,
	}); err != nil {
		fmt.Println(err)
	}
	if err := store.PutLastPush("apps/prod", state.PushRecord{Commit: "4b825dc", Branch: "main", At: at}); err != nil {
		fmt.Println(err)
	}
	if err := store.Close(); err != nil {
		fmt.Println(err)
	}

	// After a restart:
	store, err = state.Open(path, slog.Default())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = store.Close() }() // read only from here on
	sel, ok, err := store.Selection("apps:podinfo")
	fmt.Println(sel.Ref, ok, err)
	push, ok, err := store.LastPush("apps/prod")
	fmt.Println(push.Commit, push.Branch, ok, err)
	_, ok, err = store.LastSuccess("apps/prod")
	fmt.Println(ok, err)
	// Output:
	// ghcr.io/stefanprodan/podinfo:6.7.1 true <nil>
	// 4b825dc main true <nil>
	// false <nil>
}

// A run that pushed records the push, the values it wrote and its success
// at once.
func ExampleStore_PutRun() {
	dir, err := os.MkdirTemp("", "hoist-state")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	store, err := state.Open(state.Path(dir), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = store.Close() }()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	err = store.PutRun("apps/prod", state.RunRecord{
		Push:    &state.PushRecord{Commit: "4b825dc", Branch: "main", At: at},
		Written: map[string]state.WrittenRecord{"fleet#main\x00apps/app.yaml\x00Deployment apps/app\x00image": {Value: "app:1.0.1", At: at}},
		Success: at,
	})
	if err != nil {
		log.Fatal(err)
	}
	push, _, _ := store.LastPush("apps/prod")
	success, _, _ := store.LastSuccess("apps/prod")
	fmt.Println(push.Commit, success.Format(time.RFC3339))
	// Output: 4b825dc 2026-05-01T12:00:00Z
}
