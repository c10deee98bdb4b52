package automation

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/config/v1alpha1"
	"github.com/hoist-dev/hoist/writeback/git"
	"github.com/hoist-dev/hoist/writeback/pullrequest"
)

func pullRequestSpec(a *config.Automation) *v1alpha1.PullRequestSpec {
	if a.Spec.Git == nil || a.Spec.Git.Push == nil {
		return nil
	}
	return a.Spec.Git.Push.PullRequest
}

// wantsPullRequest reports whether a run that pushed res opens or updates
// a pull request: the automation asks for one, pushes to a branch of its
// own, and that branch holds changes.
func (pub publish) wantsPullRequest(res RunResult) bool {
	return pub.pullRequest && (res.Pushed || res.Commit != "") && len(res.Changes) > 0
}

// pullRequest opens or updates the pull request from head into the
// target's branch, on the target's forge, and returns its URL. An open one
// that is not hoist's is left as it is (see pullRequestRequest).
func (r *Runner) pullRequest(ctx context.Context, a *config.Automation, t Target, head string, res RunResult, log *slog.Logger) (string, error) {
	pr, err := r.ensurePullRequest(ctx, a, t, head, res)
	r.Metrics.PullRequest(res.Key(), err)
	if err != nil {
		return "", err
	}
	// The forge's answer is logged and printed: keep it free of
	// credentials whatever the forge sends.
	url := git.RedactURL(pr.URL)
	logPullRequest(log, pr, head, url)
	return url, nil
}

// logPullRequest logs the pull request a run ensured: one line saying
// that an open pull request a person opened from hoist's branch was left
// as it is, or that hoist's is ready.
func logPullRequest(log *slog.Logger, pr pullrequest.PR, head, url string, args ...any) {
	if pr.LeftAlone {
		log.Info(fmt.Sprintf("pull request #%d from %s was not opened by hoist: left as it is", pr.Number, head), append(args, "url", url)...)
		return
	}
	log.Info("pull request ready", append(args, "url", url)...)
}

// provider is the client of the target's forge.
func (r *Runner) provider(a *config.Automation, t Target) (pullrequest.Provider, error) {
	provider, err := pullrequest.New(pullrequest.Options{
		Remote:    t.Remote,
		Kind:      t.Forge,
		APIURL:    pullRequestSpec(a).APIURL,
		Token:     pullrequest.TokenFromAuth(t.Auth),
		GitHubApp: t.Auth.GitHubApp,
		CABundle:  t.Auth.CABundle,
	})
	if err != nil {
		return nil, fmt.Errorf("pull request: %w", err)
	}
	return provider, nil
}

func (r *Runner) ensurePullRequest(ctx context.Context, a *config.Automation, t Target, head string, res RunResult) (pullrequest.PR, error) {
	spec := pullRequestSpec(a)
	provider, err := r.provider(a, t)
	if err != nil {
		return pullrequest.PR{}, err
	}
	title := spec.Title
	if title == "" {
		title = fmt.Sprintf("Update images (%s/%s)", a.Namespace, a.Name)
	}
	pr, err := provider.EnsurePullRequest(ctx, r.pullRequestRequest(a, t, head, title, res))
	if err != nil {
		return pr, fmt.Errorf("pull request from %s into %s: %w", head, t.Branch, err)
	}
	return pr, nil
}

// pullRequestRequest is the pull request hoist wants from head into the
// target's branch. Its body carries the automation's hidden marker, which
// tells hoist's pull requests from those a person opened from its branch:
// the marker travels with the pull request, so it holds without the state
// store (hoist run --once, a lost store). A pull request the state store
// records as hoist's (grouped runs record those they open) is hoist's too,
// so that the ones opened before hoist wrote the marker are still updated
// (and get it).
func (r *Runner) pullRequestRequest(a *config.Automation, t Target, head, title string, res RunResult) pullrequest.Request {
	spec := pullRequestSpec(a)
	req := pullrequest.Request{
		Head: head, Base: t.Branch, Title: title, Body: pullRequestBody(spec.Body, res), Labels: spec.Labels,
		Marker: pullrequest.Marker(a.Namespace, a.Name),
	}
	if r.State != nil {
		// A store that cannot be read only loses the records: the marker
		// still holds.
		if prs, err := r.State.PullRequests(res.Key()); err == nil {
			if rec, ok := prs[head]; ok && rec.Base == t.Branch {
				req.Owned = []int64{rec.Number}
			}
		}
	}
	return req
}

// pullRequestBody is the user's body, then a table of the changes.
func pullRequestBody(intro string, res RunResult) string {
	var body strings.Builder
	if intro != "" {
		body.WriteString(intro + "\n\n")
	}
	body.WriteString("hoist updated these image references:\n\n| file | line | old | new | policy |\n|---|---|---|---|---|\n")
	for _, c := range res.Changes {
		fmt.Fprintf(&body, "| `%s` | %d | `%s` | `%s` | `%s` |\n", c.File, c.Line, c.Old, c.New, c.Setter)
	}
	return body.String()
}
