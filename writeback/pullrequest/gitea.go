package pullrequest

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"code.gitea.io/sdk/gitea"
)

type giteaProvider struct {
	apiURL      string
	token       string
	hc          *http.Client
	owner, name string
}

func newGitea(r repo, token string, hc *http.Client) Provider {
	owner, name := r.ownerName()
	return &giteaProvider{apiURL: strings.TrimSuffix(r.apiURL, "/"), token: token, hc: hc, owner: owner, name: name}
}

// labelColor is the color of labels hoist creates.
const labelColor = "#ededed"

func (g *giteaProvider) EnsurePullRequest(ctx context.Context, req Request) (PR, error) {
	if err := req.Validate(); err != nil {
		return PR{}, err
	}
	where := fmt.Sprintf("Gitea %s/%s", g.owner, g.name)
	// The SDK takes the context per client, so each call gets its own.
	c, err := gitea.NewClient(g.apiURL, gitea.SetToken(g.token), gitea.SetHTTPClient(g.hc), gitea.SetContext(ctx))
	if err != nil {
		return PR{}, fmt.Errorf("connecting to %s at %s: %w", where, g.apiURL, err)
	}
	pr, err := g.findOpen(c, req)
	if err != nil {
		return PR{}, fmt.Errorf("listing pull requests of %s: %w", where, err)
	}
	if pr != nil && !req.owns(pr.Index, pr.Body) {
		return PR{URL: pr.HTMLURL, Number: pr.Index, LeftAlone: true}, nil
	}
	body := req.body()
	var have []string
	if pr != nil {
		for _, l := range pr.Labels {
			have = append(have, l.Name)
		}
	}
	add := missing(req.Labels, have)
	var ids []int64
	if len(add) > 0 {
		if ids, err = g.labelIDs(c, add); err != nil {
			return PR{}, fmt.Errorf("finding labels %q of %s: %w", add, where, err)
		}
	}
	if pr == nil {
		pr, _, err = c.CreatePullRequest(g.owner, g.name, gitea.CreatePullRequestOption{
			Head: req.Head, Base: req.Base, Title: req.Title, Body: body, Labels: ids,
		})
		if err != nil {
			return PR{}, fmt.Errorf("opening a pull request from %q into %q on %s: %w", req.Head, req.Base, where, err)
		}
		return PR{URL: pr.HTMLURL, Number: pr.Index, Created: true}, nil
	}
	out := PR{URL: pr.HTMLURL, Number: pr.Index}
	if pr.Title != req.Title || pr.Body != body {
		if _, _, err := c.EditPullRequest(g.owner, g.name, pr.Index, gitea.EditPullRequestOption{Title: req.Title, Body: &body}); err != nil {
			return PR{}, fmt.Errorf("updating pull request #%d on %s: %w", pr.Index, where, err)
		}
	}
	if len(ids) > 0 {
		if _, _, err := c.AddIssueLabels(g.owner, g.name, pr.Index, gitea.IssueLabelsOption{Labels: ids}); err != nil {
			return PR{}, fmt.Errorf("labelling pull request #%d on %s: %w", pr.Index, where, err)
		}
	}
	return out, nil
}

// findOpen returns the open pull request from req.Head of this repository
// into req.Base, or nil.
func (g *giteaProvider) findOpen(c *gitea.Client, req Request) (*gitea.PullRequest, error) {
	opts := gitea.ListPullRequestsOptions{ListOptions: gitea.ListOptions{Page: 1, PageSize: 50}, State: gitea.StateOpen}
	for {
		prs, resp, err := c.ListRepoPullRequests(g.owner, g.name, opts)
		if err != nil {
			return nil, err
		}
		for _, pr := range prs {
			if pr.Head == nil || pr.Base == nil || pr.Head.Ref != req.Head || pr.Base.Ref != req.Base {
				continue
			}
			if pr.Head.Repository != nil && pr.Base.Repository != nil && pr.Head.Repository.ID != pr.Base.Repository.ID {
				continue // from a fork
			}
			return pr, nil
		}
		if resp == nil || resp.NextPage == 0 || len(prs) == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
}

// labelIDs returns the IDs of the named labels, creating missing ones.
func (g *giteaProvider) labelIDs(c *gitea.Client, names []string) ([]int64, error) {
	byName := map[string]int64{}
	opts := gitea.ListLabelsOptions{ListOptions: gitea.ListOptions{Page: 1, PageSize: 50}}
	for {
		labels, resp, err := c.ListRepoLabels(g.owner, g.name, opts)
		if err != nil {
			return nil, err
		}
		for _, l := range labels {
			byName[l.Name] = l.ID
		}
		if resp == nil || resp.NextPage == 0 || len(labels) == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	ids := make([]int64, 0, len(names))
	for _, n := range names {
		id, ok := byName[n]
		if !ok {
			l, _, err := c.CreateLabel(g.owner, g.name, gitea.CreateLabelOption{Name: n, Color: labelColor})
			if err != nil {
				return nil, fmt.Errorf("creating label %q: %w", n, err)
			}
			id = l.ID
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (g *giteaProvider) ClosePullRequest(ctx context.Context, req Request, number int64) (bool, error) {
	where := fmt.Sprintf("Gitea %s/%s", g.owner, g.name)
	c, err := gitea.NewClient(g.apiURL, gitea.SetToken(g.token), gitea.SetHTTPClient(g.hc), gitea.SetContext(ctx))
	if err != nil {
		return false, fmt.Errorf("connecting to %s at %s: %w", where, g.apiURL, err)
	}
	pr, err := g.findOpen(c, req)
	if err != nil {
		return false, fmt.Errorf("listing pull requests of %s: %w", where, err)
	}
	if pr == nil || pr.Index != number {
		return false, nil
	}
	closed := gitea.StateClosed
	if _, _, err := c.EditPullRequest(g.owner, g.name, pr.Index, gitea.EditPullRequestOption{State: &closed}); err != nil {
		return false, fmt.Errorf("closing pull request #%d on %s: %w", pr.Index, where, err)
	}
	return true, nil
}
