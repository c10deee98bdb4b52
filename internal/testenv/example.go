package testenv

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
)

// Example is the testing.TB of an Example function, which gets none, so
// that examples can start this package's servers. An example fails only by
// its output or by panicking: Fatal, Fatalf, Error and Errorf panic with
// their message, and Log and Logf print nothing, so as not to change the
// output. Close runs the cleanups (servers stopped, temporary directories
// removed); defer it. Only the methods this package calls are implemented;
// another one panics (the embedded testing.TB is nil).
type Example struct {
	testing.TB

	name     string
	ctx      context.Context
	cancel   context.CancelFunc
	mu       sync.Mutex
	cleanups []func()
}

// NewExample returns the testing.TB of the example name.
func NewExample(name string) *Example {
	ctx, cancel := context.WithCancel(context.Background())
	return &Example{name: name, ctx: ctx, cancel: cancel}
}

// Close cancels Context and runs the cleanups, last registered first.
func (e *Example) Close() {
	e.cancel()
	e.mu.Lock()
	cs := e.cleanups
	e.cleanups = nil
	e.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
}

// Name returns the example's name.
func (e *Example) Name() string { return e.name }

// Helper does nothing.
func (e *Example) Helper() {}

// Context is cancelled by Close.
func (e *Example) Context() context.Context { return e.ctx }

// Cleanup registers f to run in Close.
func (e *Example) Cleanup(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cleanups = append(e.cleanups, f)
}

// TempDir returns a new directory that Close removes.
func (e *Example) TempDir() string {
	dir, err := os.MkdirTemp("", "hoist-example-")
	if err != nil {
		e.Fatal(err)
	}
	e.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// Fatal panics with its message.
func (e *Example) Fatal(args ...any) { panic(e.name + ": " + fmt.Sprint(args...)) }

// Fatalf panics with its message.
func (e *Example) Fatalf(format string, args ...any) {
	panic(e.name + ": " + fmt.Sprintf(format, args...))
}

// Error panics with its message: an example cannot fail and go on.
func (e *Example) Error(args ...any) { e.Fatal(args...) }

// Errorf panics with its message.
func (e *Example) Errorf(format string, args ...any) { e.Fatalf(format, args...) }

// Log prints nothing.
func (e *Example) Log(...any) {}

// Logf prints nothing.
func (e *Example) Logf(string, ...any) {}

// Failed reports false: a failure panics.
func (e *Example) Failed() bool { return false }
