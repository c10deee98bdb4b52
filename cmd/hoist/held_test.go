package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/writeback"
)

// TestHeldOutputs: a held policy says so in hoist scan's table and JSON;
// hoist run's text lists each change kept back with its reason.
func TestHeldOutputs(t *testing.T) {
	sels := []automation.Selection{{Namespace: "apps", Name: "web", Image: "r/web", Tag: "1.2.0", Ref: "r/web:1.2.0", Held: true}}
	var table, js bytes.Buffer
	if err := printSelections(sels, "table", false, time.Now(), &table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "1.2.0 (held)") {
		t.Errorf("table:\n%s", table.String())
	}
	if err := printSelections(sels, "json", false, time.Now(), &js); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"held": true`) {
		t.Errorf("json:\n%s", js.String())
	}

	var run bytes.Buffer
	printRunResult(&run, automation.RunResult{Namespace: "apps", Name: "prod", NothingToDo: true, Branch: "main", Kept: []automation.Kept{
		{Change: writeback.Change{File: "a.yaml", Line: 3, Old: "r/web:1.0.0", New: "r/web:1.2.0", Setter: "apps:web"}, Reason: automation.KeptHold},
		{Change: writeback.Change{File: "b.yaml", Line: 4, Old: "r/web:1.5.0", New: "r/web:1.2.0", Setter: "apps:web"}, Reason: automation.KeptDowngrade},
		{Change: writeback.Change{File: "c.yaml", Line: 5, Old: "r/web:1.0.0", New: "r/web:1.2.0", Setter: "apps:web"}, Reason: automation.KeptManual, Written: "r/web:1.2.0"},
	}})
	want := `apps/prod: nothing to do, main is up to date
  a.yaml:3: kept r/web:1.0.0: r/web:1.2.0 is held (apps:web)
  b.yaml:4: kept r/web:1.5.0: r/web:1.2.0 is older (apps:web)
  c.yaml:5: kept r/web:1.0.0: r/web:1.2.0 is held after a manual change (hoist wrote r/web:1.2.0) (apps:web)
`
	if run.String() != want {
		t.Errorf("run text:\n%s\nwant:\n%s", run.String(), want)
	}
}
