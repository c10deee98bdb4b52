// Command hoist watches container registries and writes new image
// references back to Git. See README.md and `hoist --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCommand(os.Stdout, os.Stderr, os.LookupEnv).ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitError carries the exit status of docs/cli.md: 1 when some policy
// or target failed, 2 for bad usage or invalid configuration.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func failed(err error) error { return &exitError{code: 1, err: err} }
func usage(err error) error  { return &exitError{code: 2, err: err} }

// exitCode reports err once, on stderr, and maps it to an exit status.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, "hoist:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "hoist:", err)
	return 2 // cobra's own errors are usage errors
}
