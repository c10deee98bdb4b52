package git

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// SyncOptions says which branch of which remote to check out, and where.
type SyncOptions struct {
	// URL is the remote: https://, http://, ssh://, scp-like
	// user@host:path, or file://. Required. Credentials in an HTTP(S) URL
	// are moved into Auth (when Auth has none) and never written to disk.
	// Required unless Remote is set.
	URL string
	// Remote is the remote already parsed (ParseRemoteURL), for a caller
	// that parsed it once for several uses; when set, URL is ignored.
	Remote RemoteURL
	// Branch is the branch to check out. Required.
	Branch string
	// CacheDir is the directory under the state directory that holds
	// cached clones, one per remote URL and branch. Required.
	CacheDir string
	// Auth holds the credentials. Default: none.
	Auth Auth
	// InsecureSkipTLS skips verification of the server's TLS certificate.
	// Default: false.
	InsecureSkipTLS bool
	// FullHistory clones the branch's whole history. Default: false, a
	// shallow clone of depth 1.
	//
	// Shallow clones are safe here with go-git v5.19.3: hoist's commit is
	// always a child of the fetched head, so the push needs no history
	// (go-git's fast-forward check finds the parent at once, and the
	// server checks the old value under its lock), and a rewound branch
	// that go-git cannot fetch into a shallow clone makes Sync clone again.
	// The package tests push from shallow clones over HTTP and SSH, in
	// races, to new and existing push branches. Later fetches are not
	// shallow: they send the local head as a "have", so they transfer only
	// what is new (a depth-1 fetch would make the server send the whole
	// tree again). Set FullHistory when a server refuses shallow clones
	// (Sync also falls back by itself when the error says so).
	FullHistory bool
	// Timeout bounds each network operation (clone, fetch, push, listing
	// the remote's refs), as Flux's GitRepository spec.timeout does, so a
	// server that stops answering fails the run instead of holding it.
	// Default: DefaultTimeout; negative: none.
	Timeout time.Duration
	// Logger receives debug records of what Sync did. Default: discard.
	Logger *slog.Logger
	// ListFirst lists the remote's references before fetching, and
	// fetches nothing when the branch did not move: for a caller that
	// expects nothing new (a periodic run at rest), one request instead of
	// a fetch's two, and no reading of the clone's objects; for one that
	// does (a run after a new selection), a request more, so it is off by
	// default.
	ListFirst bool
	// Clones keeps the opened clone from the checkout's Close to the
	// next Sync of the same remote and branch, so that it need not be
	// opened and its packfiles indexed again. Default: nil, every Sync
	// opens the clone afresh.
	Clones *Clones

	// urlUser is the user name of an HTTP(S) URL without a password,
	// treated as a secret (set by Validate).
	urlUser string
	// remote is the remote as URL now names it, without credentials
	// (set by Validate).
	remote RemoteURL
	// reread makes Sync read the head's commit and tree, rewrite the
	// references and fetch through go-git on every call, as before a cache at
	// rest was trusted (benchmarks compare).
	reread bool
}

// secrets lists the values to redact from errors and to refuse in commit
// messages: Auth's, and a user name that came alone in an HTTP(S) URL.
func (o *SyncOptions) secrets() []string {
	return append(o.Auth.secrets(), o.urlUser)
}

// DefaultTimeout is the default SyncOptions.Timeout, Flux's default.
const DefaultTimeout = 60 * time.Second

// Validate checks the options and fills defaults.
func (o *SyncOptions) Validate() error {
	remote, err := o.Remote, error(nil)
	if remote.Scheme == "" {
		if remote, err = ParseRemoteURL(o.URL); err != nil {
			return err
		}
	}
	if remote.password != "" && !remote.IsHTTP() {
		return fmt.Errorf("%w: remote %s: a password in the URL is only supported for HTTP(S); use an identity for SSH", ErrInvalidOptions, remote)
	}
	if remote.password != "" && o.Auth.Password == "" && o.Auth.BearerToken == "" {
		o.Auth.Password = remote.password
		if o.Auth.Username == "" {
			o.Auth.Username = remote.User
		}
	} else if remote.IsHTTP() && remote.User != "" && o.Auth.Username == "" {
		// A user name without a password is most often a token
		// (https://TOKEN@host/path): redact it as one.
		o.Auth.Username = remote.User
		o.urlUser = remote.User
	}
	o.URL = remote.String()
	o.remote = remote.withoutCredentials()
	if err := validateBranch(o.Branch); err != nil {
		return err
	}
	if o.CacheDir == "" {
		return fmt.Errorf("%w: CacheDir is required", ErrInvalidOptions)
	}
	if o.CacheDir, err = filepath.Abs(o.CacheDir); err != nil {
		return fmt.Errorf("%w: CacheDir %q: %v", ErrInvalidOptions, o.CacheDir, err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// connect validates o and returns the transport's credentials for its
// remote, minting a GitHub App's installation token first (what, as
// "syncing", begins the error of a refused app).
func (o *SyncOptions) connect(ctx context.Context, what string) (transport.AuthMethod, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if app := o.Auth.GitHubApp; app != nil && o.remote.IsHTTP() {
		// Mint (or reuse) the installation token now, so that a refused
		// app fails with GitHub's answer rather than a bare 401.
		if _, err := app.Token(ctx); err != nil {
			return nil, fmt.Errorf("%s %s: %w", what, o.remote, err)
		}
	}
	auth, err := o.Auth.method(o.remote)
	if err != nil {
		return nil, redactError(err, o.secrets()...)
	}
	return auth, nil
}

// netContext bounds one network operation by Timeout.
func (o *SyncOptions) netContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := o.Timeout
	if d == 0 {
		d = DefaultTimeout
	}
	if d < 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

func validateBranch(b string) error {
	if b == "" {
		return fmt.Errorf("%w: branch is required", ErrInvalidOptions)
	}
	if strings.HasPrefix(b, "refs/") {
		return fmt.Errorf("%w: branch %q: give the branch name, not a ref", ErrInvalidOptions, b)
	}
	if err := plumbing.NewBranchReferenceName(b).Validate(); err != nil {
		return fmt.Errorf("%w: branch %q: %v", ErrInvalidOptions, b, err)
	}
	return nil
}

// Signature is a commit's author.
type Signature struct {
	Name  string
	Email string
}

// CommitOptions says how to commit the worktree's changes.
type CommitOptions struct {
	// Author is the author and committer. Required.
	Author Signature
	// MessageTemplate is a Go text/template executed with TemplateData.
	// Default: DefaultMessageTemplate.
	MessageTemplate string
	// Automation names the automation, .AutomationObject in templates.
	Automation NamespacedName
	// Values are the template's .Values.
	Values map[string]string
	// App names the Argo CD Application of an automation converted from
	// one (.AppName and .AppNamespace in templates); empty otherwise.
	App NamespacedName
	// Signer signs the commit. Default: unsigned.
	Signer Signer
	// Now is the clock for the commit time. Default: time.Now.
	Now func() time.Time
}

// Validate checks the options and fills defaults.
func (o *CommitOptions) Validate() error {
	if strings.TrimSpace(o.Author.Name) == "" || strings.TrimSpace(o.Author.Email) == "" {
		return fmt.Errorf("%w: commit author name and email are required", ErrInvalidOptions)
	}
	if strings.ContainsAny(o.Author.Name+o.Author.Email, "<>\n") {
		return fmt.Errorf("%w: commit author %q <%s>: name and email must not contain '<', '>' or newlines", ErrInvalidOptions, o.Author.Name, o.Author.Email)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// PushOptions says where to push.
type PushOptions struct {
	// Branch is the branch to push to. Default: the checkout branch. A
	// different branch is hoist's push branch: it is created from the
	// checkout branch and rewritten on every change, but only while it
	// holds nothing but hoist's commit (see Lease).
	Branch string
	// Lease is the commit SHA that hoist last pushed to the push branch,
	// as recorded by the caller. The push branch is overwritten only when
	// it still points there, or when its tip is a single commit made by
	// the committer of hoist's new commit on top of a commit of the
	// checkout branch's history. Default: the SHA this cache last pushed.
	Lease string
	// Refspec is Flux's push.refspec, SRC:DST. SRC names hoist's commit:
	// HEAD (or @), the checkout branch or Branch. DST is a ref on the
	// remote; a plain name means a branch. With Branch set, the commit is
	// pushed to Branch and then to DST; without, only to DST (for
	// Gerrit: HEAD:refs/for/main). A DST branch is pushed as Branch is
	// (the checkout branch fast-forward only, another branch only while
	// it is hoist's); any other ref is pushed without force. A leading +
	// (force) is refused.
	Refspec string
	// Options are push options (git push -o), sent with every push when
	// the server advertises them (receive.advertisePushOptions), and
	// otherwise dropped, as go-git does.
	Options map[string]string
}

// refspecTarget checks the refspec against the checkout branch and returns
// its destination as a full reference name.
func (o PushOptions) refspecTarget(checkout string) (plumbing.ReferenceName, error) {
	bad := func(why string) error {
		return fmt.Errorf("%w: push refspec %q: %s", ErrInvalidOptions, o.Refspec, why)
	}
	if strings.HasPrefix(o.Refspec, "+") {
		return "", bad("hoist never force-pushes (+)")
	}
	src, dst, ok := strings.Cut(o.Refspec, ":")
	if !ok {
		return "", bad("want SRC:DST, such as HEAD:refs/for/main")
	}
	switch src {
	case "HEAD", "@", checkout, "refs/heads/" + checkout:
	default:
		if o.Branch == "" || (src != o.Branch && src != "refs/heads/"+o.Branch) {
			return "", bad("the source must be hoist's commit: HEAD, the checkout branch or the push branch")
		}
	}
	if dst == "" {
		return "", bad("an empty destination deletes; hoist does not")
	}
	ref := plumbing.ReferenceName(dst)
	if !strings.HasPrefix(dst, "refs/") {
		ref = plumbing.NewBranchReferenceName(dst)
	}
	if err := ref.Validate(); err != nil {
		return "", bad(err.Error())
	}
	return ref, nil
}

// UpdateOptions configures Update.
type UpdateOptions struct {
	Commit CommitOptions
	Push   PushOptions
	// MaxAttempts bounds how many times Update edits, commits and pushes
	// when the remote keeps moving. Default: 4.
	MaxAttempts int
	// Backoff is the wait before the second attempt; it doubles for each
	// further attempt, up to 30s. Default: 500ms.
	Backoff time.Duration
	// Sleep waits for d or until ctx is done. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Validate checks the options and fills defaults.
func (o *UpdateOptions) Validate() error {
	if err := o.Commit.Validate(); err != nil {
		return err
	}
	if o.Push.Branch != "" {
		if err := validateBranch(o.Push.Branch); err != nil {
			return fmt.Errorf("push branch: %w", err)
		}
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 4
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
