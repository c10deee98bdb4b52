package integration

import (
	"strings"
	"testing"
	"time"
)

// TestServiceRunsWriteKnownSelections checks that the service's automation
// runs write the selections its repository scans made, as Flux's automation
// writes ImagePolicy status, instead of listing the registry again: with an
// automation interval of one second and a repository interval of an hour,
// runs after the first scan make no registry requests, and a policy edited
// in the configuration is scanned afresh, not written from the old scan.
func TestServiceRunsWriteKnownSelections(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end service test")
	}
	f := newFleet(t, fleetOptions{first: "6.0.0", semver: "^6", autoInterval: "1s"})
	initial := f.push("6.1.0", "7.0.0")
	svc := f.start("--commit-window", "0", "--startup-spread", "0", "--log-level", "debug")

	head, _ := waitRef(t, f.bare, "main", initial, 20*time.Second)
	if got := f.deployed(); !strings.Contains(got, "podinfo:6.1.0") {
		t.Fatalf("main does not have 6.1.0:\n%s", got)
	}

	// Let the automation run a few more times on its one-second interval.
	// Barriers, not sleeps: the repository scans in question have finished
	// (their log line), then one quiet run has ended, then two more are
	// counted; no tag list may be requested between the last two points.
	const scanned, quiet = "msg=\"repository scanned\"", "msg=\"automation: nothing to do\""
	tagLists := `^/v2/apps/podinfo/tags/list`
	quietRuns := func(when string, scans int) {
		t.Helper()
		svc.waitLogCount(scanned, scans, 20*time.Second)
		runs := svc.waitLogCount(quiet, strings.Count(svc.logs(), quiet)+1, 20*time.Second)
		before := f.reg.Faults.Seen("GET", tagLists)
		svc.waitLogCount(quiet, runs+2, 20*time.Second)
		if n := f.reg.Faults.Seen("GET", tagLists) - before; n != 0 {
			t.Errorf("%s: two automation runs listed the registry's tags %d times, want 0: they should write the last scan", when, n)
		}
	}
	quietRuns("after the first scan", 1)

	// A policy edited in the configuration is not written from the old
	// scan: the next run selects under the new range.
	scans := strings.Count(svc.logs(), scanned)
	f.semver = "^7"
	f.writeConfig()
	waitRef(t, f.bare, "main", head, 20*time.Second)
	if got := f.deployed(); !strings.Contains(got, "podinfo:7.0.0") {
		t.Fatalf("main does not have 7.0.0 after the range changed:\n%s", got)
	}
	// The reload rescanned the repository at once, so runs are quiet again.
	quietRuns("after the reload", scans+1)
	svc.stop()
}
