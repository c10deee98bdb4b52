package automation

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/writeback/git"
	"github.com/hoist-dev/hoist/writeback/pullrequest"
)

// Target is where an automation writes, resolved once per run (the first
// step) and passed to the steps after it: the Git remote, parsed once, the
// branch checked out, the credentials and the forge that takes the pull
// requests.
type Target struct {
	// URL is the remote as configured; it may carry credentials, so logs,
	// keys and errors use Remote's String form.
	URL string
	// Remote is URL parsed.
	Remote git.RemoteURL
	// Branch is the branch checked out.
	Branch string
	// Secret is the name of the secretRef of the credentials, "" for none.
	Secret string
	// Timeout bounds each network operation; 0: git's default.
	Timeout time.Duration
	// GitHubApp reports a GitRepository with spec.provider github: its
	// secret holds a GitHub App's credentials.
	GitHubApp bool
	// Auth are the credentials: the secret's, else the Runner's GitAuth.
	Auth git.Auth
	// Forge is the kind of forge of pull requests: the automation's
	// pullRequest.provider, else told from the remote's host; "" when
	// neither says (a pull request then fails with
	// pullrequest.ErrUnknownForge).
	Forge pullrequest.Kind
}

// resolve is the first step of a run: the automation's documents, its
// credentials, and its remote parsed once.
func (r *Runner) resolve(a *config.Automation) (Target, error) {
	t, err := resolveGit(a)
	if err != nil {
		return t, err
	}
	t.Auth = r.GitAuth
	if t.Secret != "" {
		if r.SecretsDir == "" {
			return t, fmt.Errorf("secretRef %q needs --secrets-dir", t.Secret)
		}
		read := git.AuthFromSecretDir
		if a.ArgoCD != nil {
			// Image Updater's git:secret Secrets are Argo CD's
			// repository Secrets: the SSH key is sshPrivateKey.
			read = git.ArgoAuthFromSecretDir
		}
		if t.Auth, err = read(filepath.Join(r.SecretsDir, t.Secret)); err != nil {
			return t, err
		}
		if t.GitHubApp {
			if t.Auth.GitHubApp, err = r.gitHubApp(filepath.Join(r.SecretsDir, t.Secret)); err != nil {
				return t, err
			}
		}
	}
	if t.Remote, err = git.ParseRemoteURL(t.URL); err != nil {
		return t, err
	}
	t.Forge = forgeOf(a, t.Remote)
	return t, nil
}

// forgeOf is the forge of an automation's pull requests: its
// pullRequest.provider, else the one of remote's host (see
// pullrequest.KindFromHost).
func forgeOf(a *config.Automation, remote git.RemoteURL) pullrequest.Kind {
	if pr := pullRequestSpec(a); pr != nil && pr.Provider != "" {
		return pullrequest.Kind(pr.Provider)
	}
	return pullrequest.KindFromHost(remote.Hostname())
}

// resolveGit reads where an automation writes from its documents: URL,
// branch, secret and timeout. It does no I/O and parses nothing.
func resolveGit(a *config.Automation) (Target, error) {
	var t Target
	if g := a.GitRepository; g != nil {
		t.URL = g.Spec.URL
		if g.Spec.SecretRef != nil {
			t.Secret = g.Spec.SecretRef.Name
		}
		t.GitHubApp = g.Spec.Provider == "github"
		if ref := g.Spec.Reference; ref != nil {
			t.Branch = ref.Branch
			if t.Branch == "" {
				// Flux's full reference name: refs/heads/BRANCH.
				t.Branch, _ = strings.CutPrefix(ref.Name, "refs/heads/")
				if t.Branch == ref.Name {
					t.Branch = ""
				}
			}
		}
		if g.Spec.Timeout != nil {
			t.Timeout = g.Spec.Timeout.Duration
		}
	} else if a.Spec.SourceRef != nil {
		return t, fmt.Errorf("sourceRef %s %q is not in the configuration", a.Spec.SourceRef.Kind, a.Spec.SourceRef.Name)
	}
	if gs := a.Spec.Git; gs != nil {
		if gs.URL != "" {
			t.URL = gs.URL
		}
		if gs.SecretRef != nil {
			t.Secret = gs.SecretRef.Name
		}
		if gs.Checkout != nil && gs.Checkout.Reference.Branch != "" {
			t.Branch = gs.Checkout.Reference.Branch
		} else if gs.Checkout != nil {
			if b, ok := strings.CutPrefix(gs.Checkout.Reference.Name, "refs/heads/"); ok && b != "" {
				t.Branch = b
			}
		}
	}
	if t.URL == "" {
		return t, errors.New("no Git URL: set spec.sourceRef to a GitRepository or spec.git.url")
	}
	if t.Branch == "" {
		return t, errors.New("no branch to check out (a tag, semver or commit cannot be pushed to): set spec.git.checkout.ref.branch or the GitRepository's spec.ref.branch")
	}
	return t, nil
}

// GitKey names the Git repository and branch an automation writes to, so
// that work on one is serialised; an automation whose
// repository cannot be resolved is keyed by its own name (it fails alone).
// The key is logged, so it holds the URL without credentials
// (git.RedactURL): two automations that reach one repository with
// different tokens share a key.
func GitKey(a *config.Automation) string {
	t, err := resolveGit(a)
	if err != nil {
		return a.Namespace + "/" + a.Name
	}
	return git.RedactURL(t.URL) + "#" + t.Branch
}

// gitHubApp reads the GitHub App of a secret directory, and returns the app
// of an earlier run with the same credentials when there is one, with its
// installation token; a rotated key or another installation is a new app.
// Its tokens are dated on the Runner's clock.
func (r *Runner) gitHubApp(dir string) (*git.GitHubApp, error) {
	app, err := git.AppFromSecretDir(dir)
	if err != nil {
		return nil, err
	}
	app.Now = r.Now
	kept, _ := r.apps.LoadOrStore(app.CacheKey(), app)
	return kept.(*git.GitHubApp), nil
}
