//go:build unix

package git_test

import (
	"syscall"
	"time"
)

// cpuTimes returns the CPU time (user and system) used so far by this
// process and by its finished children (the Git server's git processes).
func cpuTimes() (self, children time.Duration) {
	var own, kids syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &own) != nil || syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids) != nil {
		return 0, 0
	}
	total := func(r *syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	return total(&own), total(&kids)
}
