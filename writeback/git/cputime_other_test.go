//go:build !unix

package git_test

import "time"

// cpuTimes is not measured here.
func cpuTimes() (self, children time.Duration) { return 0, 0 }
