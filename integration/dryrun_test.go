package integration

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestRunOnceDryRun shows what a run would commit, with its diff, and
// commits and pushes nothing; the real run after it pushes that change.
func TestRunOnceDryRun(t *testing.T) {
	reg, gitSrv, bare, base := apiFleet(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hoist.yaml")
	writeFile(t, cfg, apiConfig(reg.Host, gitSrv.RepoURL("fleet.git")))
	env := []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state")}

	r := hoist(t, env, "run", "--once", "--dry-run", "-c", cfg)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"apps/api: dry run: would push 1 change to main",
		"--- a/api.yaml\n+++ b/api.yaml\n",
		"-image: " + reg.Host + "/apps/api:1.0.0 ",
		"+image: " + reg.Host + "/apps/api:2.0.0 ",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, r.stdout)
		}
	}
	if got := testenv.GitHead(t, bare, "main"); got != base {
		t.Fatalf("a dry run moved main to %s", got)
	}

	r = hoist(t, env, "run", "--once", "--dry-run", "-c", cfg, "-o", "json")
	var out struct {
		Automations []struct {
			DryRun  bool   `json:"dryRun"`
			Pushed  bool   `json:"pushed"`
			Diff    string `json:"diff"`
			Changes []struct{ Old, New string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Automations) != 1 {
		t.Fatalf("JSON output: %v\n%s", err, r.stdout)
	}
	if a := out.Automations[0]; !a.DryRun || a.Pushed || len(a.Changes) != 1 || !strings.Contains(a.Diff, "+image: ") {
		t.Errorf("JSON of the dry run: %+v", a)
	}

	// The real run pushes what the dry run showed, from the same cache.
	r = hoist(t, env, "run", "--once", "-c", cfg)
	if r.code != 0 || !strings.Contains(testenv.GitCLI(t, bare, "show", "main:api.yaml"), "apps/api:2.0.0") {
		t.Errorf("the run after the dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := hoist(t, env, "run", "--dry-run", "-c", cfg); r.code != 2 || !strings.Contains(r.stderr, "--dry-run needs --once") {
		t.Errorf("--dry-run without --once: exit %d\n%s", r.code, r.stderr)
	}
}
