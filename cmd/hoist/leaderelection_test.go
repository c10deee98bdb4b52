package main

import (
	"strings"
	"testing"
	"time"
)

func TestLeaderElectionTimesValidate(t *testing.T) {
	for name, tc := range map[string]struct {
		times leaderElectionTimes
		want  string // in the error; "" for none
	}{
		"defaults":           {leaderElectionTimes{15 * time.Second, 10 * time.Second, 2 * time.Second}, ""},
		"short":              {leaderElectionTimes{4 * time.Second, 3 * time.Second, time.Second}, ""},
		"renew past lease":   {leaderElectionTimes{5 * time.Second, 6 * time.Second, time.Second}, "--leader-elect-lease-duration 5s"},
		"renew equals lease": {leaderElectionTimes{5 * time.Second, 5 * time.Second, time.Second}, "--leader-elect-lease-duration 5s"},
		"retry jitter past":  {leaderElectionTimes{15 * time.Second, 10 * time.Second, 9 * time.Second}, "--leader-elect-renew-deadline 10s"},
		"retry zero":         {leaderElectionTimes{15 * time.Second, 10 * time.Second, 0}, "--leader-elect-retry-period 0s"},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.times.validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}
