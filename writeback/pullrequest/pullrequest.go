// Package pullrequest opens, or updates, the pull request that proposes
// hoist's push branch for merging into the checkout branch, on GitHub,
// GitLab (merge requests) or Gitea. It never opens a duplicate (an open
// pull request from the same head to the same base is updated instead
// when it is hoist's, see Request.Marker, and left as it is when a person
// opened it), never merges, and closes only a pull request whose number
// the caller names (one hoist opened).
package pullrequest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/writeback/git"
)

// Request describes the pull request hoist wants.
type Request struct {
	// Head is the branch with the changes (hoist's push branch).
	Head string
	// Base is the branch to merge into (the checkout branch).
	Base string
	// Title and Body are the pull request's; Body is Markdown.
	Title string
	Body  string
	// Labels are added when missing; labels a person added stay.
	Labels []string
	// Marker is a line (see Marker) that the body of every pull request
	// the caller opens or updates carries: it is added to Body when Body
	// lacks it. An open pull request whose body holds it is the caller's
	// and is updated; one without it (a person opened it) is left as it
	// is, unless its number is in Owned. Empty: no open pull request is
	// the caller's but those in Owned.
	Marker string
	// Owned are numbers of pull requests the caller opened (recorded in
	// its state), for those opened before it wrote a Marker.
	Owned []int64
}

// Marker returns the hidden line that marks the pull requests of the
// automation namespace/name as hoist's: an HTML comment, which the forges
// do not show.
func Marker(namespace, name string) string {
	return "<!-- hoist: automation " + namespace + "/" + name + " -->"
}

// body is the body to set: Body, then Marker on its own line unless Body
// holds it already.
func (r Request) body() string {
	if r.Marker == "" || strings.Contains(r.Body, r.Marker) {
		return r.Body
	}
	if r.Body == "" {
		return r.Marker
	}
	return strings.TrimRight(r.Body, "\n") + "\n\n" + r.Marker
}

// owns reports whether the open pull request number with body is the
// caller's: its body holds Marker, or Owned names it.
func (r Request) owns(number int64, body string) bool {
	return (r.Marker != "" && strings.Contains(body, r.Marker)) || slices.Contains(r.Owned, number)
}

// Validate checks the request.
func (r Request) Validate() error {
	switch {
	case r.Head == "" || r.Base == "":
		return fmt.Errorf("%w: head and base branches are required", ErrInvalidOptions)
	case r.Head == r.Base:
		return fmt.Errorf("%w: head and base are the same branch %q", ErrInvalidOptions, r.Head)
	case strings.TrimSpace(r.Title) == "":
		return fmt.Errorf("%w: title is required", ErrInvalidOptions)
	case strings.Contains(r.Marker, "\n"):
		return fmt.Errorf("%w: marker %q spans lines", ErrInvalidOptions, r.Marker)
	}
	return nil
}

// PR is the pull request that EnsurePullRequest opened or updated.
type PR struct {
	// URL is the pull request's web page.
	URL string
	// Number is its number (GitLab: the merge request's IID).
	Number int64
	// Created is true when it was opened by this call, false when an open
	// one was found (and updated when its title, body or labels differed
	// and it is the caller's).
	Created bool
	// LeftAlone is true when the open pull request found is not the
	// caller's (see Request.Marker): its title, body and labels were left
	// as they are.
	LeftAlone bool
}

// Provider opens or updates pull requests on one repository.
type Provider interface {
	// EnsurePullRequest opens a pull request from req.Head into req.Base,
	// or, when one is open already, updates its title and body and adds
	// missing labels when it is the caller's (req.Marker, req.Owned), and
	// otherwise leaves it as it is and reports it with LeftAlone.
	EnsurePullRequest(ctx context.Context, req Request) (PR, error)
	// ClosePullRequest closes the open pull request from req.Head into
	// req.Base when its number is number (one hoist opened), and reports
	// whether it did; a pull request that is merged, closed or has another
	// number (one a person opened) is left alone.
	ClosePullRequest(ctx context.Context, req Request, number int64) (bool, error)
}

// Kind names a forge.
type Kind string

// The forges hoist supports.
const (
	GitHub Kind = "github"
	GitLab Kind = "gitlab"
	Gitea  Kind = "gitea"
)

var (
	// ErrInvalidOptions means options or a request failed validation.
	ErrInvalidOptions = errors.New("invalid pull request options")
	// ErrUnknownForge means the forge could not be told from the remote
	// URL and none was configured.
	ErrUnknownForge = errors.New("cannot tell the forge from the remote URL; configure its kind")
)

// KindFromHost returns the forge of well-known hosts (github.com,
// gitlab.com), or "" for others, which need a configured Kind.
func KindFromHost(host string) Kind {
	switch strings.ToLower(host) {
	case "github.com", "www.github.com":
		return GitHub
	case "gitlab.com", "www.gitlab.com":
		return GitLab
	}
	return ""
}

// Options configures New.
type Options struct {
	// RepoURL is the Git remote URL of the repository (any form that
	// git.ParseRemoteURL accepts). Required unless Remote is set.
	RepoURL string
	// Remote is the remote already parsed, for a caller that parsed it
	// once for several uses; when set, RepoURL is ignored.
	Remote git.RemoteURL
	// Kind is the forge. Default: from RepoURL's host (see KindFromHost).
	Kind Kind
	// APIURL is the API's base URL, for self-hosted forges. Default:
	// GitHub: https://api.github.com/ for github.com, otherwise
	// https://HOST/api/v3/; GitLab: https://HOST/api/v4/; Gitea:
	// https://HOST/ (http when RepoURL is http).
	APIURL string
	// Token authenticates to the API. Required unless GitHubApp is set.
	// Use TokenFromAuth to take it from the Git secret.
	Token string
	// GitHubApp authenticates to GitHub's API with the app's installation
	// tokens, minted and refreshed as needed (the Git secret's GitHub App,
	// see git.AppFromSecretDir). GitHub only; it takes precedence over
	// Token.
	GitHubApp *git.GitHubApp
	// HTTPClient sends the API requests. Default: a client with a 30s
	// timeout that trusts the system's roots and CABundle.
	HTTPClient *http.Client
	// CABundle holds PEM certificates trusted besides the system's, for a
	// self-hosted forge (the Git secret's ca.crt). Ignored with HTTPClient.
	CABundle []byte
}

// TokenFromAuth returns the API token of a Git secret: its bearerToken, or
// else its password.
func TokenFromAuth(a git.Auth) string {
	if a.BearerToken != "" {
		return a.BearerToken
	}
	return a.Password
}

// repo is the repository's location as a forge API needs it.
type repo struct {
	apiURL string
	// path is the repository path without a leading slash or ".git":
	// "owner/name" or, on GitLab, "group/subgroup/name".
	path string
}

func (r repo) ownerName() (owner, name string) {
	i := strings.LastIndex(r.path, "/")
	return r.path[:i], r.path[i+1:]
}

// New returns the Provider for opts.Remote, or opts.RepoURL.
func New(opts Options) (Provider, error) {
	remote := opts.Remote
	if remote.Scheme == "" {
		var err error
		if remote, err = git.ParseRemoteURL(opts.RepoURL); err != nil {
			return nil, err
		}
	}
	if opts.Token == "" && opts.GitHubApp == nil {
		return nil, fmt.Errorf("%w: an API token is required", ErrInvalidOptions)
	}
	kind := opts.Kind
	if kind == "" {
		kind = KindFromHost(remote.Hostname())
	}
	if kind == "" {
		return nil, fmt.Errorf("%w: %s", ErrUnknownForge, remote)
	}
	if opts.GitHubApp != nil && kind != GitHub {
		return nil, fmt.Errorf("%w: a GitHub App authenticates to GitHub only, not %s", ErrInvalidOptions, kind)
	}
	path := strings.TrimSuffix(strings.Trim(remote.Path, "/"), ".git")
	segments := strings.Split(path, "/")
	if len(segments) < 2 || slices.Contains(segments, "") {
		return nil, fmt.Errorf("%w: remote %s: the path must name owner/repository", ErrInvalidOptions, remote)
	}
	r := repo{apiURL: opts.APIURL, path: path}
	if r.apiURL == "" {
		r.apiURL = defaultAPIURL(kind, remote)
	} else if u, err := url.Parse(r.apiURL); err != nil {
		return nil, fmt.Errorf("%w: API URL %q: not a URL", ErrInvalidOptions, git.RedactURL(r.apiURL))
	} else if u.User != nil {
		// Errors and logs name the API URL: the token comes from Token.
		return nil, fmt.Errorf("%w: API URL %s carries user information; the token comes from the Git secret", ErrInvalidOptions, git.RedactURL(r.apiURL))
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
		if len(opts.CABundle) > 0 {
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(opts.CABundle) {
				return nil, fmt.Errorf("%w: the CA bundle holds no PEM certificate", ErrInvalidOptions)
			}
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
			hc.Transport = tr
		}
	}
	switch kind {
	case GitHub:
		if len(segments) != 2 {
			return nil, fmt.Errorf("%w: remote %s: GitHub paths are owner/repository", ErrInvalidOptions, remote)
		}
		if opts.GitHubApp != nil {
			return newGitHubApp(r, opts.GitHubApp, hc)
		}
		return newGitHub(r, opts.Token, hc)
	case GitLab:
		// A GitLab installed under a path prefix has it in the remote's
		// path too.
		if u, err := url.Parse(r.apiURL); err == nil {
			prefix := strings.Trim(strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/api/v4"), "/")
			if prefix != "" {
				r.path = strings.TrimPrefix(r.path, prefix+"/")
			}
		}
		return newGitLab(r, opts.Token, hc)
	case Gitea:
		// A Gitea under a path prefix: the repository is the last two
		// segments.
		r.path = strings.Join(segments[len(segments)-2:], "/")
		return newGitea(r, opts.Token, hc), nil
	}
	return nil, fmt.Errorf("%w: unknown kind %q (want github, gitlab or gitea)", ErrInvalidOptions, kind)
}

func defaultAPIURL(kind Kind, remote git.RemoteURL) string {
	scheme := "https"
	if remote.Scheme == "http" {
		scheme = "http"
	}
	host := remote.Host
	if remote.IsSSH() {
		// The SSH port says nothing about the web port.
		host = remote.Hostname()
	}
	switch {
	case kind == GitHub && strings.EqualFold(remote.Hostname(), "github.com"):
		return "https://api.github.com/"
	case kind == GitHub:
		return scheme + "://" + host + "/api/v3/"
	case kind == GitLab:
		return scheme + "://" + host + "/api/v4/"
	}
	return scheme + "://" + host + "/"
}

// missing returns the labels of want that are not in have, in want's order,
// without duplicates.
func missing(want, have []string) []string {
	var out []string
	for _, l := range want {
		if l != "" && !slices.Contains(have, l) && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}
