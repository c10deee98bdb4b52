package main

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/leaderelection"
)

// leaderElectionTimes are the timing of the leader election Lease
// (--leader-elect), controller-runtime's defaults unless set.
//
// A leader that stops without releasing the Lease (a crash, a lost node)
// is replaced once the Lease expires: a standby takes over between lease
// and lease + retry (plus client-go's jitter of up to 20% of retry) after
// the leader's last renewal, so lease bounds the failover. A leader that
// cannot renew within renew of its last renewal stops working, before its
// Lease expires for the others; renew must be shorter than lease, and
// retry (with its jitter) shorter than renew. A leader that stops cleanly
// (SIGTERM) releases the Lease, and a standby takes over within retry.
type leaderElectionTimes struct {
	lease, renew, retry time.Duration
}

func (t *leaderElectionTimes) register(f *pflag.FlagSet) {
	f.DurationVar(&t.lease, "leader-elect-lease-duration", 15*time.Second, "how long a leader's Lease holds after its last renewal: a standby takes over this long after the leader crashed")
	f.DurationVar(&t.renew, "leader-elect-renew-deadline", 10*time.Second, "how long a leader keeps trying to renew its Lease before it stops working (less than --leader-elect-lease-duration)")
	f.DurationVar(&t.retry, "leader-elect-retry-period", 2*time.Second, "how often a leader renews its Lease, and a standby tries to take it")
}

// validate says which flag is out of order (client-go's rules).
func (t leaderElectionTimes) validate() error {
	switch {
	case t.retry <= 0:
		return fmt.Errorf("--leader-elect-retry-period %s: want a positive duration", t.retry)
	case t.renew <= time.Duration(leaderelection.JitterFactor*float64(t.retry)):
		return fmt.Errorf("--leader-elect-renew-deadline %s: want more than %.1f × --leader-elect-retry-period (%s)", t.renew, leaderelection.JitterFactor, t.retry)
	case t.lease <= t.renew:
		return fmt.Errorf("--leader-elect-lease-duration %s: want more than --leader-elect-renew-deadline (%s)", t.lease, t.renew)
	}
	return nil
}
