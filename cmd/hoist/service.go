package main

import (
	"context"
	"errors"
	"io"
)

func runService(ctx context.Context, o runOptions, stdout, stderr io.Writer) error {
	return usage(errors.New("service mode is not available yet: use --once"))
}
