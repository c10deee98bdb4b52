package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
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
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	d := reg.PushImage(t, "apps/podinfo", "6.0.0", testenv.ImageOptions{Created: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)})
	reg.Tag(t, "apps/podinfo", d, "6.1.0", "7.0.0")

	gitSrv := testenv.NewGitServer(t, testenv.GitServerOptions{})
	bare := gitSrv.RepoDir("fleet.git")
	testenv.GitInitBare(t, bare, "main")
	testenv.GitCommitFiles(t, bare, "main", "initial", map[string]string{
		"apps/podinfo.yaml": fmt.Sprintf("image: %s/apps/podinfo:6.0.0 # {\"$imagepolicy\": \"apps:podinfo\"}\n", reg.Host),
	})
	head := testenv.GitHead(t, bare, "main")

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	config := func(rng string) string {
		return fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: GitRepository
metadata: {name: fleet, namespace: apps}
spec: {url: %s, ref: {branch: main}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: podinfo, namespace: apps}
spec: {image: %s/apps/podinfo, interval: 1h}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: podinfo, namespace: apps}
spec:
  imageRepositoryRef: {name: podinfo}
  policy: {semver: {range: '%s'}}
---
apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: apps}
spec:
  interval: 1s
  sourceRef: {kind: GitRepository, name: fleet}
  git:
    commit: {author: {name: hoist, email: hoist@example.com}}
  update: {path: ./apps}
`, gitSrv.RepoURL("fleet.git"), reg.Host, rng)
	}
	writeFile(t, filepath.Join(cfg, "hoist.yaml"), config("^6"))
	env := []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state")}
	svc := startService(t, freeAddr(t), env, "-c", cfg, "--commit-window", "0", "--startup-spread", "0")

	head = waitHead(t, bare, "main", head, 20*time.Second)
	if got := testenv.GitCLI(t, bare, "show", "main:apps/podinfo.yaml"); !strings.Contains(got, "podinfo:6.1.0") {
		t.Fatalf("main does not have 6.1.0:\n%s", got)
	}

	// Let the automation run a few more times on its one-second interval.
	tagLists := `^/v2/apps/podinfo/tags/list`
	quietRuns := func(when string) {
		t.Helper()
		time.Sleep(300 * time.Millisecond) // the scan that preceded the commit has returned
		before, runsBefore := reg.Faults.Seen("GET", tagLists), strings.Count(svc.logs(), "automation: nothing to do")
		time.Sleep(3500 * time.Millisecond)
		runs := strings.Count(svc.logs(), "automation: nothing to do") - runsBefore
		if runs < 2 {
			t.Fatalf("%s: the automation ran %d times in 3.5s with a 1s interval\n%s", when, runs, svc.logs())
		}
		if n := reg.Faults.Seen("GET", tagLists) - before; n != 0 {
			t.Errorf("%s: %d automation runs listed the registry's tags %d times, want 0: they should write the last scan", when, runs, n)
		}
	}
	quietRuns("after the first scan")

	// A policy edited in the configuration is not written from the old
	// scan: the next run selects under the new range.
	writeFile(t, filepath.Join(cfg, "hoist.yaml"), config("^7"))
	waitHead(t, bare, "main", head, 20*time.Second)
	if got := testenv.GitCLI(t, bare, "show", "main:apps/podinfo.yaml"); !strings.Contains(got, "podinfo:7.0.0") {
		t.Fatalf("main does not have 7.0.0 after the range changed:\n%s", got)
	}
	// The reload rescanned the repository at once, so runs are quiet again.
	quietRuns("after the reload")
	svc.stop()
}
