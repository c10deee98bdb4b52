package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// StartSSHAgent starts an ssh-agent on a socket in a temporary directory,
// adds keys to it, and stops it when the test ends. It returns the socket
// path (what SSH_AUTH_SOCK holds). The agent is OpenSSH's ssh-agent, keys
// added with ssh-add, when openssh-client is installed (.ci/run installs
// it); otherwise it is golang.org/x/crypto/ssh/agent's keyring served on
// the socket, an implementation of the same protocol, so that the test
// still talks to a real agent over a real socket.
func StartSSHAgent(t testing.TB, keys ...SSHKey) string {
	t.Helper()
	agentBin, err1 := exec.LookPath("ssh-agent")
	addBin, err2 := exec.LookPath("ssh-add")
	if err1 != nil || err2 != nil {
		return startGoSSHAgent(t, keys...)
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

// startGoSSHAgent serves x/crypto's agent keyring on a Unix socket.
func startGoSSHAgent(t testing.TB, keys ...SSHKey) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hoist-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	keyring := agent.NewKeyring()
	for _, k := range keys {
		priv, err := gossh.ParseRawPrivateKey(k.PrivatePEM)
		if err != nil {
			t.Fatalf("parsing a test key: %v", err)
		}
		if err := keyring.Add(agent.AddedKey{PrivateKey: priv}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "agent.sock")
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				_ = agent.ServeAgent(keyring, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return sock
}
