package controller

import (
	"sync"
	"time"

	"github.com/hoist-dev/hoist/automation"
)

// observations are what the service's scans and runs saw, by object, until
// the reconcilers write them to status.
type observations struct {
	mu    sync.Mutex
	scans map[objectKey]scanObservation
	sels  map[objectKey]automation.Selection
	runs  map[objectKey]runObservation
}

// scanObservation is a repository's last scan.
type scanObservation struct {
	at time.Time
	// tags and latest are the tags the repository's exclusionList kept,
	// and the latest of them (automation.LatestTags).
	tags   int
	latest []string
	err    string
	// unused: the repository had no policy to scan for, so its tags were
	// not listed.
	unused bool
}

// runObservation is an automation's last run, and its last push.
type runObservation struct {
	at       time.Time
	res      automation.RunResult
	pushedAt time.Time
	pushed   automation.RunResult
}

func newObservations() *observations {
	return &observations{
		scans: map[objectKey]scanObservation{},
		sels:  map[objectKey]automation.Selection{},
		runs:  map[objectKey]runObservation{},
	}
}

func (o *observations) scanned(namespace, name string, sels []automation.Selection, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s := scanObservation{at: at, unused: len(sels) == 0}
	for _, sel := range sels {
		if sel.TagCount > s.tags { // the same for every policy of the repository
			s.tags, s.latest = sel.TagCount, sel.LatestTags
		}
		if sel.Err != nil && s.err == "" {
			s.err = sel.Err.Error()
		}
		o.sels[objectKey{"ImagePolicy", sel.Namespace, sel.Name}] = sel
	}
	o.scans[objectKey{"ImageRepository", namespace, name}] = s
}

func (o *observations) ran(res automation.RunResult, at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := objectKey{"ImageUpdateAutomation", res.Namespace, res.Name}
	r := o.runs[k]
	r.at, r.res = at, res
	if res.Pushed {
		r.pushedAt, r.pushed = at, res
	}
	o.runs[k] = r
}

func (o *observations) scan(k objectKey) (scanObservation, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.scans[k]
	return s, ok
}

func (o *observations) selection(k objectKey) (automation.Selection, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.sels[k]
	return s, ok
}

func (o *observations) run(k objectKey) (runObservation, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r, ok := o.runs[k]
	return r, ok
}

// forget drops what was seen of an object that is gone.
func (o *observations) forget(k objectKey) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.scans, k)
	delete(o.sels, k)
	delete(o.runs, k)
}
