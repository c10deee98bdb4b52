//go:build !unix

package service

import "time"

// cpuTime is not measured here.
func cpuTime() time.Duration { return 0 }
