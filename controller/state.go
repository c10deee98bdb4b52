package controller

import (
	"context"
	"fmt"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hoist-dev/hoist/automation/state"
	"github.com/hoist-dev/hoist/config/v1alpha1"
)

// The state that the loop keeps across restarts (automation/state: each
// policy's last selection, each automation's last push, which is the lease
// of its push branch, and its last success) lives in the status of the
// objects it belongs to, the fields Flux users read:
//
//	ImagePolicy.status.latestRef                 the last selection
//	ImageUpdateAutomation.status.lastPushCommit  the last push and its lease
//	  (lastPushTime; the branch is the spec's push branch)
//	ImageUpdateAutomation.status.lastAutomationRunTime with Ready=True
//	                                             the last success
//
// The status is written anyway to report them, so keeping the state there
// costs no API request of its own, needs no object, name or RBAC rule of
// its own, and goes away with its object; and only the controller that
// owns an object (the leader of its shard) writes its status. The local
// state store under --state-dir is a cache of it: when a controller starts
// leading, restoreState fills it from the status, and a new pod with an
// empty --state-dir continues where the last one stopped.

// restoreState seeds st with the state recorded in the status of the
// objects of c's cache. A record st already has wins when it is at least
// as new (the same pod, restarted with its emptyDir).
func restoreState(ctx context.Context, c client.Reader, st *state.Store) (selections, pushes int, err error) {
	var policies v1alpha1.ImagePolicyList
	if err := c.List(ctx, &policies); err != nil {
		return 0, 0, fmt.Errorf("restoring the state: listing ImagePolicies: %w", err)
	}
	have, err := st.Selections()
	if err != nil {
		return 0, 0, fmt.Errorf("restoring the state: %w", err)
	}
	recs := map[string]state.SelectionRecord{}
	for i := range policies.Items {
		p := &policies.Items[i]
		key := p.Namespace + ":" + p.Name
		if _, ok := have[key]; ok {
			continue
		}
		if rec, ok := selectionRecord(p); ok {
			recs[key] = rec
		}
	}
	if len(recs) > 0 {
		if err := st.PutSelections(recs); err != nil {
			return 0, 0, fmt.Errorf("restoring the state: %w", err)
		}
	}

	var autos v1alpha1.ImageUpdateAutomationList
	if err := c.List(ctx, &autos); err != nil {
		return len(recs), 0, fmt.Errorf("restoring the state: listing ImageUpdateAutomations: %w", err)
	}
	for i := range autos.Items {
		a := &autos.Items[i]
		key := a.Namespace + "/" + a.Name
		if rec, ok := pushRecord(a); ok {
			cur, found, err := st.LastPush(key)
			if err != nil {
				return len(recs), pushes, fmt.Errorf("restoring the state: %w", err)
			}
			if !found || cur.At.Before(rec.At) {
				if err := st.PutLastPush(key, rec); err != nil {
					return len(recs), pushes, fmt.Errorf("restoring the state: %w", err)
				}
				pushes++
			}
		}
		if at, ok := lastSuccess(a); ok {
			if cur, found, err := st.LastSuccess(key); err == nil && (!found || cur.Before(at)) {
				if err := st.PutLastSuccess(key, at); err != nil {
					return len(recs), pushes, fmt.Errorf("restoring the state: %w", err)
				}
			}
		}
	}
	return len(recs), pushes, nil
}

// selectionRecord is the last selection of p as its status records it:
// latestRef, with the digest when the policy writes it (the loop's
// Selection clears it otherwise).
func selectionRecord(p *v1alpha1.ImagePolicy) (state.SelectionRecord, bool) {
	r := p.Status.LatestRef
	if r == nil || r.Name == "" || r.Tag == "" {
		return state.SelectionRecord{}, false
	}
	ref := r.Name + ":" + r.Tag
	if r.Digest != "" {
		ref += "@" + r.Digest
	}
	var at time.Time
	if c := apimeta.FindStatusCondition(p.Status.Conditions, ReadyCondition); c != nil {
		at = c.LastTransitionTime.Time
	}
	return state.SelectionRecord{Ref: ref, Tag: r.Tag, Digest: r.Digest, At: at}, true
}

// pushRecord is the last push of a as its status records it. The branch
// is the one a pushes to now: the lease only counts when the branch's tip
// is that commit, so a branch that changed since cannot be misled by it.
func pushRecord(a *v1alpha1.ImageUpdateAutomation) (state.PushRecord, bool) {
	if a.Status.LastPushCommit == "" {
		return state.PushRecord{}, false
	}
	rec := state.PushRecord{Commit: a.Status.LastPushCommit, Branch: pushBranch(a)}
	if a.Status.LastPushTime != nil {
		rec.At = a.Status.LastPushTime.Time
	}
	return rec, true
}

// pushBranch is the branch a pushes to: spec.git.push.branch, else the
// branch it checks out (as far as the spec says: "" for a GitRepository's).
func pushBranch(a *v1alpha1.ImageUpdateAutomation) string {
	g := a.Spec.Git
	if g == nil {
		return ""
	}
	if g.Push != nil && g.Push.Branch != "" {
		return g.Push.Branch
	}
	if g.Checkout != nil {
		return g.Checkout.Reference.Branch
	}
	return ""
}

// lastSuccess is when a last ran without error: its last run, when that
// left it Ready.
func lastSuccess(a *v1alpha1.ImageUpdateAutomation) (time.Time, bool) {
	t := a.Status.LastAutomationRunTime
	if t == nil || !apimeta.IsStatusConditionTrue(a.Status.Conditions, ReadyCondition) {
		return time.Time{}, false
	}
	return t.Time, true
}
