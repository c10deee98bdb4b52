package pullrequest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/google/go-github/v72/github"

	"github.com/hoist-dev/hoist/writeback/git"
)

type gitHub struct {
	client      *github.Client
	owner, name string
}

func newGitHub(r repo, token string, hc *http.Client) (Provider, error) {
	return newGitHubClient(r, github.NewClient(hc).WithAuthToken(token))
}

// newGitHubApp authenticates each API request with the app's current
// installation token.
func newGitHubApp(r repo, app *git.GitHubApp, hc *http.Client) (Provider, error) {
	inner := hc.Transport
	if inner == nil {
		inner = http.DefaultTransport
	}
	c := *hc
	c.Transport = &appTransport{inner: inner, app: app}
	return newGitHubClient(r, github.NewClient(&c))
}

// appTransport sets "Authorization: Bearer TOKEN" with a GitHub App's
// installation token.
type appTransport struct {
	inner http.RoundTripper
	app   *git.GitHubApp
}

func (t *appTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := t.app.Token(req.Context())
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+tok)
	return t.inner.RoundTrip(r)
}

func newGitHubClient(r repo, c *github.Client) (Provider, error) {
	if r.apiURL != "https://api.github.com/" {
		base, err := url.Parse(r.apiURL)
		if err != nil {
			return nil, fmt.Errorf("%w: API URL %q: %v", ErrInvalidOptions, r.apiURL, err)
		}
		if base.Path == "" || base.Path[len(base.Path)-1] != '/' {
			base.Path += "/"
		}
		c.BaseURL, c.UploadURL = base, base
	}
	owner, name := r.ownerName()
	return &gitHub{client: c, owner: owner, name: name}, nil
}

func (g *gitHub) EnsurePullRequest(ctx context.Context, req Request) (PR, error) {
	if err := req.Validate(); err != nil {
		return PR{}, err
	}
	where := fmt.Sprintf("GitHub %s/%s", g.owner, g.name)
	pr, err := g.findOpen(ctx, req)
	if err != nil {
		return PR{}, fmt.Errorf("listing pull requests of %s: %w", where, err)
	}
	if pr != nil && !req.owns(int64(pr.GetNumber()), pr.GetBody()) {
		return PR{URL: pr.GetHTMLURL(), Number: int64(pr.GetNumber()), LeftAlone: true}, nil
	}
	body := req.body()
	created := false
	if pr == nil {
		pr, _, err = g.client.PullRequests.Create(ctx, g.owner, g.name, &github.NewPullRequest{
			Title: github.Ptr(req.Title),
			Head:  github.Ptr(req.Head),
			Base:  github.Ptr(req.Base),
			Body:  github.Ptr(body),
		})
		if err != nil {
			return PR{}, fmt.Errorf("opening a pull request from %q into %q on %s: %w", req.Head, req.Base, where, err)
		}
		created = true
	} else if pr.GetTitle() != req.Title || pr.GetBody() != body {
		number := pr.GetNumber()
		pr, _, err = g.client.PullRequests.Edit(ctx, g.owner, g.name, number, &github.PullRequest{
			Title: github.Ptr(req.Title),
			Body:  github.Ptr(body),
		})
		if err != nil {
			return PR{}, fmt.Errorf("updating pull request #%d on %s: %w", number, where, err)
		}
	}
	var have []string
	for _, l := range pr.Labels {
		have = append(have, l.GetName())
	}
	if add := missing(req.Labels, have); len(add) > 0 {
		// GitHub creates labels that do not exist yet.
		if _, _, err := g.client.Issues.AddLabelsToIssue(ctx, g.owner, g.name, pr.GetNumber(), add); err != nil {
			return PR{}, fmt.Errorf("labelling pull request #%d on %s: %w", pr.GetNumber(), where, err)
		}
	}
	return PR{URL: pr.GetHTMLURL(), Number: int64(pr.GetNumber()), Created: created}, nil
}

// findOpen returns the open pull request from req.Head (in this repository)
// into req.Base, or nil.
func (g *gitHub) findOpen(ctx context.Context, req Request) (*github.PullRequest, error) {
	opts := &github.PullRequestListOptions{
		State:       "open",
		Head:        g.owner + ":" + req.Head,
		Base:        req.Base,
		ListOptions: github.ListOptions{PerPage: 100},
	}
	for {
		prs, resp, err := g.client.PullRequests.List(ctx, g.owner, g.name, opts)
		if err != nil {
			return nil, err
		}
		for _, pr := range prs {
			if pr.GetHead().GetRef() == req.Head && pr.GetBase().GetRef() == req.Base &&
				pr.GetHead().GetRepo().GetFullName() == g.owner+"/"+g.name {
				return pr, nil
			}
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
}

func (g *gitHub) ClosePullRequest(ctx context.Context, req Request, number int64) (bool, error) {
	where := fmt.Sprintf("GitHub %s/%s", g.owner, g.name)
	pr, err := g.findOpen(ctx, req)
	if err != nil {
		return false, fmt.Errorf("listing pull requests of %s: %w", where, err)
	}
	if pr == nil || int64(pr.GetNumber()) != number {
		return false, nil
	}
	if _, _, err := g.client.PullRequests.Edit(ctx, g.owner, g.name, pr.GetNumber(), &github.PullRequest{State: github.Ptr("closed")}); err != nil {
		return false, fmt.Errorf("closing pull request #%d on %s: %w", pr.GetNumber(), where, err)
	}
	return true, nil
}
