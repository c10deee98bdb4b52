package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// StartSSHAgent starts OpenSSH's ssh-agent on a socket in a temporary
// directory, adds keys to it with ssh-add, and stops it when the test ends.
// It returns the socket path (what SSH_AUTH_SOCK holds). It skips the test
// when ssh-agent or ssh-add is missing, except when the environment
// variable CI is "true", where it fails the test (.ci/run installs
// openssh-client).
func StartSSHAgent(t testing.TB, keys ...SSHKey) string {
	t.Helper()
	agentBin, err1 := exec.LookPath("ssh-agent")
	addBin, err2 := exec.LookPath("ssh-add")
	if err1 != nil || err2 != nil {
		msg := "ssh-agent and ssh-add (openssh-client) are needed"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	// Unix socket paths are short (108 bytes): not under t.TempDir().
	dir, err := os.MkdirTemp("", "hoist-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command(agentBin, "-D", "-a", sock)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh-agent did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i, k := range keys {
		file := filepath.Join(dir, fmt.Sprintf("key%d", i))
		if err := os.WriteFile(file, k.PrivatePEM, 0o600); err != nil {
			t.Fatal(err)
		}
		add := exec.Command(addBin, file)
		add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
		if out, err := add.CombinedOutput(); err != nil {
			t.Fatalf("ssh-add: %v\n%s", err, out)
		}
	}
	return sock
}
