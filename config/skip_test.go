package config_test

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/config"
)

// TestLoadSkipsWhatIsNotADocument: a directory is read whatever else it
// holds besides documents: sockets and pipes (whatever their names), links
// to nothing or to directories, files of other types. A regression test for
// a validate that failed on another program's vanished temporary file.
func TestLoadSkipsWhatIsNotADocument(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("repo.yaml", "apiVersion: hoist.dev/v1alpha1\nkind: ImageRepository\nmetadata: {name: podinfo}\nspec: {image: ghcr.io/stefanprodan/podinfo}\n")
	write("notes.txt", "not: [yaml")
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "socket.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	if err := os.Symlink(filepath.Join(dir, "gone.yaml"), filepath.Join(dir, "dangling.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub", filepath.Join(dir, "dir.yaml")); err != nil {
		t.Fatal(err)
	}

	set, err := config.Load(dir)
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	if len(set.Repositories) != 1 {
		t.Errorf("Load(%s) read %d image repositories, want 1", dir, len(set.Repositories))
	}
	var warnings []string
	for _, w := range set.Warnings {
		warnings = append(warnings, w.String())
	}
	want := []string{
		filepath.Join(dir, "dangling.yaml") + ": skipped: a symbolic link to nothing",
		filepath.Join(dir, "dir.yaml") + ": skipped: a symbolic link to something other than a file",
	}
	if diff := cmp.Diff(want, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}
