package pullrequest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	gitlab "gitlab.com/gitlab-org/api/client-go"
)

type gitLab struct {
	client  *gitlab.Client
	project string
}

func newGitLab(r repo, token string, hc *http.Client) (Provider, error) {
	c, err := gitlab.NewClient(token,
		gitlab.WithBaseURL(r.apiURL),
		gitlab.WithHTTPClient(hc),
		gitlab.WithURLWarningLogger(slog.New(slog.DiscardHandler)),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: GitLab client: %v", ErrInvalidOptions, err)
	}
	return &gitLab{client: c, project: r.path}, nil
}

func (g *gitLab) EnsurePullRequest(ctx context.Context, req Request) (PR, error) {
	if err := req.Validate(); err != nil {
		return PR{}, err
	}
	where := "GitLab project " + g.project
	mr, err := g.findOpen(ctx, req)
	if err != nil {
		return PR{}, fmt.Errorf("listing merge requests of %s: %w", where, err)
	}
	if mr != nil && !req.owns(mr.IID, mr.Description) {
		return PR{URL: mr.WebURL, Number: mr.IID, LeftAlone: true}, nil
	}
	body := req.body()
	if mr == nil {
		opts := &gitlab.CreateMergeRequestOptions{
			Title:        gitlab.Ptr(req.Title),
			Description:  gitlab.Ptr(body),
			SourceBranch: gitlab.Ptr(req.Head),
			TargetBranch: gitlab.Ptr(req.Base),
		}
		if add := missing(req.Labels, nil); len(add) > 0 {
			// GitLab creates labels that do not exist yet.
			opts.Labels = (*gitlab.LabelOptions)(&add)
		}
		created, _, err := g.client.MergeRequests.CreateMergeRequest(g.project, opts, gitlab.WithContext(ctx))
		if err != nil {
			return PR{}, fmt.Errorf("opening a merge request from %q into %q on %s: %w", req.Head, req.Base, where, err)
		}
		return PR{URL: created.WebURL, Number: created.IID, Created: true}, nil
	}
	opts := &gitlab.UpdateMergeRequestOptions{}
	changed := false
	if mr.Title != req.Title || mr.Description != body {
		opts.Title, opts.Description = gitlab.Ptr(req.Title), gitlab.Ptr(body)
		changed = true
	}
	if add := missing(req.Labels, mr.Labels); len(add) > 0 {
		opts.AddLabels = (*gitlab.LabelOptions)(&add)
		changed = true
	}
	if changed {
		if _, _, err := g.client.MergeRequests.UpdateMergeRequest(g.project, mr.IID, opts, gitlab.WithContext(ctx)); err != nil {
			return PR{}, fmt.Errorf("updating merge request !%d on %s: %w", mr.IID, where, err)
		}
	}
	return PR{URL: mr.WebURL, Number: mr.IID}, nil
}

// findOpen returns the open merge request from req.Head into req.Base of
// this project (not from a fork), or nil.
func (g *gitLab) findOpen(ctx context.Context, req Request) (*gitlab.BasicMergeRequest, error) {
	opts := &gitlab.ListProjectMergeRequestsOptions{
		ListOptions:  gitlab.ListOptions{PerPage: 100},
		State:        gitlab.Ptr("opened"),
		SourceBranch: gitlab.Ptr(req.Head),
		TargetBranch: gitlab.Ptr(req.Base),
	}
	for {
		mrs, resp, err := g.client.MergeRequests.ListProjectMergeRequests(g.project, opts, gitlab.WithContext(ctx))
		if err != nil {
			return nil, err
		}
		for _, mr := range mrs {
			if mr.SourceBranch == req.Head && mr.TargetBranch == req.Base && mr.SourceProjectID == mr.TargetProjectID {
				return mr, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
}

func (g *gitLab) ClosePullRequest(ctx context.Context, req Request, number int64) (bool, error) {
	where := "GitLab project " + g.project
	mr, err := g.findOpen(ctx, req)
	if err != nil {
		return false, fmt.Errorf("listing merge requests of %s: %w", where, err)
	}
	if mr == nil || mr.IID != number {
		return false, nil
	}
	opts := &gitlab.UpdateMergeRequestOptions{StateEvent: gitlab.Ptr("close")}
	if _, _, err := g.client.MergeRequests.UpdateMergeRequest(g.project, mr.IID, opts, gitlab.WithContext(ctx)); err != nil {
		return false, fmt.Errorf("closing merge request !%d on %s: %w", mr.IID, where, err)
	}
	return true, nil
}
