package testenv

import (
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestExample checks the testing.TB of examples: cleanups run at Close,
// last first, temporary directories go, the context is cancelled, and
// Fatal panics with its message.
func TestExample(t *testing.T) {
	e := NewExample("ExampleX")
	var order []int
	e.Cleanup(func() { order = append(order, 1) })
	dir := e.TempDir()
	e.Cleanup(func() { order = append(order, 2) })
	e.Close()
	if diff := cmp.Diff([]int{2, 1}, order); diff != "" {
		t.Errorf("cleanup order (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("TempDir %s survived Close: %v", dir, err)
	}
	if e.Context().Err() == nil {
		t.Error("Context is not cancelled after Close")
	}
	defer func() {
		if got := recover(); got != "ExampleX: no registry" {
			t.Errorf("Fatalf panicked with %v", got)
		}
	}()
	e.Fatalf("no %s", "registry")
}
