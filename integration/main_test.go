// Package integration holds end-to-end tests: the hoist binary against real
// servers (a CNCF Distribution registry, git http-backend) on 127.0.0.1.
package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// hoistBin is the hoist binary built once for the package.
var hoistBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hoist-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	hoistBin = filepath.Join(dir, "hoist")
	build := exec.Command("go", "build", "-o", hoistBin, "github.com/hoist-dev/hoist/cmd/hoist")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hoist:", err)
		os.Exit(2)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// result is one run of the hoist binary.
type result struct {
	stdout, stderr string
	code           int
}

// hoist runs the binary with args and a clean environment rooted in a
// temporary HOME, so no user configuration leaks in.
func hoist(t *testing.T, env []string, args ...string) result {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(hoistBin, args...)
	cmd.Env = append([]string{
		"HOME=" + home,
		"PATH=" + os.Getenv("PATH"),
		"DOCKER_CONFIG=" + filepath.Join(home, ".docker"),
		"HOIST_STATE_DIR=" + filepath.Join(home, "state"),
	}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running hoist %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
