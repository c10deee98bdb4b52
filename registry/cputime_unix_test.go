//go:build unix

package registry_test

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user and system) used so far by this
// process, steadier than the wall clock on a shared machine.
func cpuTime() time.Duration {
	var own syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &own) != nil {
		return 0
	}
	return time.Duration(own.Utime.Nano() + own.Stime.Nano())
}
