package integration

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoist-dev/hoist/internal/testenv"
)

// TestRunOnceRefspec runs an automation with Flux's push.refspec and
// push.options, as a Gerrit user writes it: the commit goes to
// refs/for/main only, with the push options, and main does not move.
func TestRunOnceRefspec(t *testing.T) {
	reg, gitSrv, bare, base := apiFleet(t)
	testenv.GitCLI(t, bare, "config", "receive.advertisePushOptions", "true")
	dir := t.TempDir()
	seen := filepath.Join(dir, "push-options")
	testenv.GitSetHook(t, bare, "pre-receive", `[ "${GIT_PUSH_OPTION_COUNT:-0}" -gt 0 ] && echo "$GIT_PUSH_OPTION_0" > `+seen)

	cfg := filepath.Join(dir, "hoist.yaml")
	writeFile(t, cfg, strings.Replace(apiConfig(reg.Host, gitSrv.RepoURL("fleet.git")),
		"    commit: {author: {name: hoist, email: hoist@example.com}}\n",
		"    commit: {author: {name: hoist, email: hoist@example.com}}\n    push:\n      refspec: HEAD:refs/for/main\n      options: {topic: images}\n", 1))
	r := hoist(t, []string{"HOIST_STATE_DIR=" + filepath.Join(dir, "state")}, "run", "--once", "-c", cfg, "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	review := strings.TrimSpace(testenv.GitCLI(t, bare, "rev-parse", "refs/for/main"))
	if !strings.Contains(r.stdout, review) || !strings.Contains(r.stdout, `"branch": "refs/for/main"`) {
		t.Errorf("the JSON output does not report the commit %s on refs/for/main:\n%s", review, r.stdout)
	}
	if got := testenv.GitCLI(t, bare, "show", "refs/for/main:api.yaml"); !strings.Contains(got, "apps/api:2.0.0") {
		t.Errorf("refs/for/main has:\n%s", got)
	}
	if got := testenv.GitHead(t, bare, "main"); got != base {
		t.Errorf("main moved to %s", got)
	}
	if got := readFile(t, seen); strings.TrimSpace(got) != "topic=images" {
		t.Errorf("push option seen by the server: %q", got)
	}
}
