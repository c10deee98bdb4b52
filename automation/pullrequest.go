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
// target's branch, on the target's forge, and returns its URL.
func (r *Runner) pullRequest(ctx context.Context, a *config.Automation, t Target, head string, res RunResult, log *slog.Logger) (string, error) {
	url, err := r.ensurePullRequest(ctx, a, t, head, res)
	r.Metrics.PullRequest(res.Key(), err)
	if err != nil {
		return "", err
	}
	log.Info("pull request ready", "url", url)
	return url, nil
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

func (r *Runner) ensurePullRequest(ctx context.Context, a *config.Automation, t Target, head string, res RunResult) (string, error) {
	spec := pullRequestSpec(a)
	provider, err := r.provider(a, t)
	if err != nil {
		return "", err
	}
	title := spec.Title
	if title == "" {
		title = fmt.Sprintf("Update images (%s/%s)", a.Namespace, a.Name)
	}
	pr, err := provider.EnsurePullRequest(ctx, pullrequest.Request{Head: head, Base: t.Branch, Title: title, Body: pullRequestBody(spec.Body, res), Labels: spec.Labels})
	if err != nil {
		return "", fmt.Errorf("pull request from %s into %s: %w", head, t.Branch, err)
	}
	// The forge's answer is logged and printed: keep it free of
	// credentials whatever the forge sends.
	return git.RedactURL(pr.URL), nil
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
