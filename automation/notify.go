package automation

import (
	"context"
	"fmt"
	"strings"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/notification/v1beta3"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/notify"
)

// maxErrorsInEvent bounds the target errors listed in one failure event.
const maxErrorsInEvent = 10

// notifyRun sends the events of res to the Alerts of set, or to the
// Notifier's events address (see docs/notifications.md). A failure to
// notify is logged; it never fails the run.
func (r *Runner) notifyRun(ctx context.Context, set *config.Set, a *config.Automation, res RunResult) {
	if !r.Notifier.Active(set) {
		return
	}
	out := r.Notifier.Notify(ctx, set, RunEvents(set, a, res))
	for _, err := range out.Errors {
		r.logger().Warn("sending a notification", "automation", res.Key(), "error", err)
	}
}

// RunEvents are the events of one automation run, in Flux's event format:
// a NewSelection event per ImagePolicy whose selection the run wrote, a
// Pushed event with the commit (what commit status providers report on),
// a PullRequest event, and a Failed event (severity error) for a failed
// automation or failed targets. A dry run has no events. It is pure.
func RunEvents(set *config.Set, a *config.Automation, res RunResult) []notify.Event {
	if res.DryRun {
		return nil
	}
	auto := notify.ObjectReference{Kind: v1alpha1.ImageUpdateAutomationKind, Namespace: res.Namespace, Name: res.Name, APIVersion: v1alpha1.APIVersion}
	var autoLabels map[string]string
	if a != nil {
		autoLabels = a.Labels
	}
	var revision map[string]string
	if res.Pushed && res.Commit != "" {
		revision = map[string]string{notify.MetaRevision: res.Branch + "@sha1:" + res.Commit}
	}
	var out []notify.Event
	if res.Pushed {
		seen := map[string]bool{}
		for _, c := range res.Changes {
			if seen[c.Policy] || strings.HasPrefix(c.Policy, "inline:") {
				continue
			}
			seen[c.Policy] = true
			ns, name, _ := strings.Cut(c.Policy, ":")
			ev := notify.Event{
				InvolvedObject: notify.ObjectReference{Kind: v1alpha1.ImagePolicyKind, Namespace: ns, Name: name, APIVersion: v1alpha1.APIVersion},
				Severity:       v1beta3.SeverityInfo,
				Reason:         notify.ReasonNewSelection,
				Message:        fmt.Sprintf("%s: %s written (was %s) by %s", c.Setter, c.New, c.Old, res.Key()),
				Metadata:       revision,
			}
			if p := set.Policy(ns, name); p != nil {
				ev.Labels = p.Labels
			}
			out = append(out, ev)
		}
		out = append(out, notify.Event{
			InvolvedObject: auto, Labels: autoLabels, Severity: v1beta3.SeverityInfo, Reason: notify.ReasonPushed,
			Message:  fmt.Sprintf("pushed %s to %s: %s", shortSHA(res.Commit), res.Branch, plural(len(res.Changes), "change", "changes")),
			Metadata: revision,
		})
	}
	if res.PullRequest != "" {
		out = append(out, notify.Event{
			InvolvedObject: auto, Labels: autoLabels, Severity: v1beta3.SeverityInfo, Reason: notify.ReasonPullRequest,
			Message:  "pull request " + res.PullRequest + " from " + res.Branch,
			Metadata: map[string]string{"url": res.PullRequest},
		})
	}
	switch {
	case res.Err != nil:
		out = append(out, notify.Event{
			InvolvedObject: auto, Labels: autoLabels, Severity: v1beta3.SeverityError, Reason: notify.ReasonFailed,
			Message: res.Err.Error(),
		})
	case len(res.Errors) > 0:
		var b strings.Builder
		fmt.Fprintf(&b, "%s failed:", plural(len(res.Errors), "target", "targets"))
		for i, e := range res.Errors {
			if i == maxErrorsInEvent {
				fmt.Fprintf(&b, "\n(%d more)", len(res.Errors)-i)
				break
			}
			b.WriteString("\n" + e.Error())
		}
		out = append(out, notify.Event{
			InvolvedObject: auto, Labels: autoLabels, Severity: v1beta3.SeverityError, Reason: notify.ReasonFailed,
			Message: b.String(), Metadata: revision,
		})
	}
	return out
}

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
