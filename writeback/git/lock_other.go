//go:build !unix

package git

import "context"

// lockFile does nothing on systems without flock: callers must not use one
// cache from two processes at the same time.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
