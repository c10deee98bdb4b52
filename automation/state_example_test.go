package automation_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hoist-dev/hoist/automation"
)

// The state store keeps the last selections and pushes across restarts.
func ExampleStateStore() {
	stateDir, err := os.MkdirTemp("", "hoist-state")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = os.RemoveAll(stateDir) }()
	path := filepath.Join(stateDir, automation.StateFile)
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

	state, err := automation.OpenStateStore(path, slog.Default())
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := state.PutSelection("apps:podinfo", automation.SelectionRecord{
		Ref: "ghcr.io/stefanprodan/podinfo:6.7.1", Tag: "6.7.1", At: at,
	}); err != nil {
		fmt.Println(err)
	}
	if err := state.PutLastPush("apps/prod", automation.PushRecord{Commit: "4b825dc", Branch: "main", At: at}); err != nil {
		fmt.Println(err)
	}
	if err := state.Close(); err != nil {
		fmt.Println(err)
	}

	// After a restart:
	state, err = automation.OpenStateStore(path, slog.Default())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = state.Close() }() // read only from here on
	sel, ok, err := state.Selection("apps:podinfo")
	fmt.Println(sel.Ref, ok, err)
	push, ok, err := state.LastPush("apps/prod")
	fmt.Println(push.Commit, push.Branch, ok, err)
	_, ok, err = state.LastSuccess("apps/prod")
	fmt.Println(ok, err)
	// Output:
	// ghcr.io/stefanprodan/podinfo:6.7.1 true <nil>
	// 4b825dc main true <nil>
	// false <nil>
}
