package git

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

const remoteName = "origin"

// Checkout is a worktree on disk at the head of a remote branch, kept in a
// cache directory between runs. Its methods must not be called
// concurrently; Sync holds a lock on the cache until Close.
type Checkout struct {
	opts   SyncOptions
	remote RemoteURL
	auth   transport.AuthMethod
	dir    string
	repo   *gogit.Repository
	// open is the clone repo reads (its store and cache), nil before
	// Sync opened it; clones keeps it between checkouts (nil: none).
	open   *openClone
	clones *Clones
	// keep is set while the clone was last found sound (opened,
	// fetched or cloned without a fault), so Close may keep it.
	keep bool
	head plumbing.Hash
	// verified is the remote head whose commit and tree were read, or
	// that the clean mark names (a reset to it read them): open and fetch
	// read them again only for another commit.
	verified plumbing.Hash
	// exposed is set once Dir was called: the worktree may then hold edits
	// made outside Update, so the clean mark is not trusted.
	exposed bool
	unlock  func()
	log     *slog.Logger
}

// errCorrupt marks a cache that cannot be trusted and must be cloned again.
var errCorrupt = errors.New("cache is unusable")

// Sync returns a checkout of opts.Branch of opts.URL. The first call clones
// the branch (shallow unless opts.FullHistory) into a directory of
// opts.CacheDir named after a hash of the URL and branch; later calls fetch
// what is new and hard-reset the worktree to the remote head, removing any
// file that is not tracked. That reset walks every file, unless the last
// checkout left the worktree untouched at that very head (an Update with
// nothing to do, and Dir never called), which a mark in the cache records.
// A cache that cannot be opened, that points to another URL, or whose
// objects are broken is removed and cloned again. The cache is hoist's:
// files edited there by anything else may survive a Sync that trusts the
// mark. Close the checkout to release the cache.
func Sync(ctx context.Context, opts SyncOptions) (*Checkout, error) {
	auth, err := opts.connect(ctx, "syncing")
	if err != nil {
		return nil, err
	}
	remote := opts.remote
	if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating cache directory: %w", err)
	}
	key := cacheKey(opts.URL, opts.Branch)
	c := &Checkout{
		opts:   opts,
		remote: remote,
		auth:   auth,
		dir:    filepath.Join(opts.CacheDir, key),
		clones: opts.Clones,
		log:    opts.Logger.With("remote", opts.URL, "branch", opts.Branch),
	}
	c.unlock, err = lockFile(ctx, c.dir+".lock")
	if err != nil {
		return nil, err
	}
	if err := c.sync(ctx); err != nil {
		c.Close()
		return nil, c.redact(fmt.Errorf("syncing %s branch %q: %w", opts.URL, opts.Branch, err))
	}
	return c, nil
}

// cacheKey names the cache directory of a URL and branch.
func cacheKey(url, branch string) string {
	sum := sha256.Sum256([]byte(url + "\x00" + branch))
	return hex.EncodeToString(sum[:12])
}

// Close releases the cache. The worktree stays on disk for the next Sync,
// and the opened clone in SyncOptions.Clones. The checkout must not be used
// afterwards.
func (c *Checkout) Close() {
	if c.exposed && c.repo != nil {
		// The caller may have left edits: the next Sync walks the
		// worktree to reset it.
		if err := c.markDirty(); err != nil {
			c.log.Warn("the next sync may keep edits left in the worktree", "error", err)
		}
	}
	c.release()
	if c.unlock != nil {
		c.unlock()
		c.unlock = nil
	}
}

// Dir is the worktree directory. Files edited there outside an Update are
// discarded by Reset, Refresh and the next Sync.
func (c *Checkout) Dir() string {
	c.exposed = true
	return c.dir
}

// Branch is the checked-out branch.
func (c *Checkout) Branch() string { return c.opts.Branch }

// URL is the remote URL, without credentials.
func (c *Checkout) URL() string { return c.opts.URL }

// Head is the SHA of the remote branch's commit that the worktree was last
// reset to.
func (c *Checkout) Head() string { return c.head.String() }

func (c *Checkout) redact(err error) error { return redactError(err, c.opts.secrets()...) }

func (c *Checkout) branchRef() plumbing.ReferenceName {
	return plumbing.NewBranchReferenceName(c.opts.Branch)
}

func (c *Checkout) remoteRef(branch string) plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName(remoteName, branch)
}

// sync opens the cache and refreshes it, or clones again when the cache
// cannot be trusted.
func (c *Checkout) sync(ctx context.Context) error {
	err := c.openCache()
	if err == nil {
		err = c.refresh(ctx)
		if err == nil {
			if err = c.compact(); err == nil {
				c.keep = true
				return nil
			}
			err = fmt.Errorf("%w: packing it: %v", errCorrupt, err)
		}
		if !errors.Is(err, errCorrupt) {
			return err
		}
	}
	if _, statErr := os.Stat(c.dir); statErr == nil {
		c.log.Warn("cached clone is unusable; cloning again", "dir", c.dir, "reason", c.redact(err).Error())
	}
	if err := c.clone(ctx); err != nil {
		return err
	}
	c.keep = true
	return nil
}

// openCache opens the cached clone, or takes the one Clones kept, and checks
// that it belongs to the remote and branch.
func (c *Checkout) openCache() error {
	var o *openClone
	if c.clones != nil {
		o = c.clones.take(c.dir)
	}
	if o == nil {
		var err error
		if o, err = openRepo(c.dir); err != nil {
			return fmt.Errorf("%w: opening %s: %v", errCorrupt, c.dir, err)
		}
	}
	c.setOpen(o)
	repo := o.repo
	rc, err := repo.Remote(remoteName)
	if err != nil {
		return fmt.Errorf("%w: %v", errCorrupt, err)
	}
	if urls := rc.Config().URLs; len(urls) != 1 || urls[0] != c.opts.URL {
		return fmt.Errorf("%w: remote URL %q is not %q", errCorrupt, RedactURLs(strings.Join(urls, " ")), c.opts.URL)
	}
	ref, err := repo.Reference(c.remoteRef(c.opts.Branch), true)
	if err != nil {
		return fmt.Errorf("%w: %v", errCorrupt, err)
	}
	// The clean mark is written only after the worktree was reset to its
	// commit, which read that commit and its tree: a cache at rest is not
	// read again (the object store's index stays unread until the fetch
	// needs it).
	if h := ref.Hash(); c.opts.reread || c.cleanAt() != h {
		commit, err := repo.CommitObject(h)
		if err != nil {
			return fmt.Errorf("%w: commit %s: %v", errCorrupt, h, err)
		}
		if _, err := commit.Tree(); err != nil {
			return fmt.Errorf("%w: tree of %s: %v", errCorrupt, h, err)
		}
	}
	c.verified = ref.Hash()
	return nil
}

// setOpen makes o the clone the checkout reads, releasing the one before.
func (c *Checkout) setOpen(o *openClone) {
	if c.open != nil && c.open != o {
		c.open.close()
	}
	c.open, c.repo = o, o.repo
}

// reopen opens the cached clone afresh, after its packfiles changed under
// the store (packing, a new clone).
func (c *Checkout) reopen() error {
	o, err := openRepo(c.dir)
	if err != nil {
		return err
	}
	c.setOpen(o)
	return nil
}

// release gives the opened clone to Clones when it was found sound, else
// closes it.
func (c *Checkout) release() {
	o := c.open
	if o == nil {
		return
	}
	c.open = nil
	if c.clones != nil && c.keep {
		c.clones.put(c.dir, o)
		return
	}
	o.close()
}

// shallow reports whether the cached clone is shallow.
func (c *Checkout) shallow() bool {
	s, err := c.repo.Storer.Shallow()
	return err == nil && len(s) > 0
}

func (c *Checkout) depth() int {
	if c.opts.FullHistory {
		return 0
	}
	return 1
}

// clone clones into a temporary directory next to the cache and replaces
// the cache with it only when the clone succeeded, so a failed clone leaves
// no half-made cache behind.
func (c *Checkout) clone(ctx context.Context) error {
	tmp, err := os.MkdirTemp(c.opts.CacheDir, "."+filepath.Base(c.dir)+".clone-")
	if err != nil {
		return fmt.Errorf("cloning: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	opts := &gogit.CloneOptions{
		URL:             c.opts.URL,
		Auth:            c.auth,
		RemoteName:      remoteName,
		ReferenceName:   c.branchRef(),
		SingleBranch:    true,
		Depth:           c.depth(),
		Tags:            gogit.NoTags,
		NoCheckout:      true,
		CABundle:        c.opts.Auth.CABundle,
		InsecureSkipTLS: c.opts.InsecureSkipTLS,
	}
	_, err = c.clonePlain(ctx, tmp, opts)
	if err != nil && opts.Depth > 0 && strings.Contains(err.Error(), "shallow") {
		// The server does not do shallow clones: clone the whole branch.
		c.log.Debug("server refused a shallow clone; cloning the whole branch", "error", c.redact(err).Error())
		if err = os.RemoveAll(tmp); err == nil {
			opts.Depth = 0
			_, err = c.clonePlain(ctx, tmp, opts)
		}
	}
	if err != nil {
		return fmt.Errorf("cloning: %w", classifyFetchError(err))
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("removing old cache: %w", err)
	}
	if err := os.Rename(tmp, c.dir); err != nil {
		return fmt.Errorf("moving clone into the cache: %w", err)
	}
	if err := c.reopen(); err != nil {
		return fmt.Errorf("opening clone: %w", err)
	}
	ref, err := c.repo.Reference(c.remoteRef(c.opts.Branch), true)
	if err != nil {
		return fmt.Errorf("cloning: %w", err)
	}
	c.log.Debug("cloned", "head", ref.Hash().String(), "shallow", c.shallow())
	c.verified = plumbing.ZeroHash // read again by the next fetch
	if err := c.resetTo(ref.Hash()); err != nil {
		return fmt.Errorf("checking out %s: %w", ref.Hash(), err)
	}
	return nil
}

// classifyFetchError maps go-git's errors for a missing branch to
// ErrBranchNotFound.
func classifyFetchError(err error) error {
	switch {
	case errors.Is(err, gogit.NoMatchingRefSpecError{}),
		errors.Is(err, plumbing.ErrReferenceNotFound),
		errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("%w: %v", ErrBranchNotFound, err)
	}
	return err
}

// Refresh fetches the remote branch and hard-resets the worktree to its
// head, discarding local changes and commits.
func (c *Checkout) Refresh(ctx context.Context) error {
	err := c.refresh(ctx)
	if errors.Is(err, errCorrupt) {
		c.keep = false
		c.log.Warn("cached clone is unusable; cloning again", "dir", c.dir, "reason", c.redact(err).Error())
		if err = c.clone(ctx); err == nil {
			c.keep = true
		}
	}
	if err != nil {
		return c.redact(fmt.Errorf("refreshing %s branch %q: %w", c.opts.URL, c.opts.Branch, err))
	}
	return nil
}

func (c *Checkout) refresh(ctx context.Context) error {
	if _, err := c.fetch(ctx, c.opts.Branch); err != nil {
		return err
	}
	ref, err := c.repo.Reference(c.remoteRef(c.opts.Branch), true)
	if err != nil {
		return fmt.Errorf("%w: %v", errCorrupt, err)
	}
	if err := c.resetTo(ref.Hash()); err != nil {
		return fmt.Errorf("%w: resetting to %s: %v", errCorrupt, ref.Hash(), err)
	}
	return nil
}

// fetch fetches branch into its remote-tracking ref and returns its head.
// A broken object store comes back as errCorrupt.
func (c *Checkout) fetch(ctx context.Context, branch string) (plumbing.Hash, error) {
	// No depth, even for a shallow clone: the local head is sent as a
	// "have", so the server sends only the commits and objects that are
	// new since the last fetch. (A fetch with depth 1 makes git's
	// upload-pack send the whole tree again.)
	spec := config.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(branch), c.remoteRef(branch)))
	ctx, cancel := c.netContext(ctx)
	defer cancel()
	if h, ok := c.unmoved(ctx, branch); ok {
		c.log.Debug("fetched: unchanged", "ref", branch, "head", h.String())
		return h, nil
	}
	err := c.repo.FetchContext(ctx, &gogit.FetchOptions{
		RemoteName:      remoteName,
		RefSpecs:        []config.RefSpec{spec},
		Auth:            c.auth,
		Tags:            gogit.NoTags,
		Force:           true,
		CABundle:        c.opts.Auth.CABundle,
		InsecureSkipTLS: c.opts.InsecureSkipTLS,
	})
	switch {
	case err == nil, errors.Is(err, gogit.NoErrAlreadyUpToDate):
	case errors.Is(err, plumbing.ErrObjectNotFound):
		// go-git cannot always extend a shallow clone (for example when
		// the branch was rewound); start over.
		return plumbing.ZeroHash, fmt.Errorf("%w: fetching %q: %v", errCorrupt, branch, err)
	default:
		return plumbing.ZeroHash, fmt.Errorf("fetching %q: %w", branch, classifyFetchError(err))
	}
	ref, err := c.repo.Reference(c.remoteRef(branch), true)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("%w: fetching %q: %v", errCorrupt, branch, err)
	}
	if branch != c.opts.Branch || ref.Hash() != c.verified {
		if _, err := c.repo.CommitObject(ref.Hash()); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("%w: fetching %q: commit %s: %v", errCorrupt, branch, ref.Hash(), err)
		}
		if branch == c.opts.Branch {
			c.verified = ref.Hash()
		}
	}
	c.log.Debug("fetched", "ref", branch, "head", ref.Hash().String())
	return ref.Hash(), nil
}

// unmoved lists the remote's references (the request a fetch starts with),
// when SyncOptions.ListFirst asks for it,
// and returns the head of branch when it is the commit its remote-tracking
// reference already holds, whose commit was read (verified): there is
// nothing to fetch. go-git's fetch would read that commit from the pack
// again to see whether it has it, which loads the pack's whole index, on
// every run at rest. Any other answer (a listing that fails, a branch that
// is missing or moved) is false, and the fetch says why.
func (c *Checkout) unmoved(ctx context.Context, branch string) (plumbing.Hash, bool) {
	if !c.opts.ListFirst || c.opts.reread || branch != c.opts.Branch || c.verified.IsZero() {
		return plumbing.ZeroHash, false
	}
	local, err := c.repo.Reference(c.remoteRef(branch), true)
	if err != nil || local.Hash() != c.verified {
		return plumbing.ZeroHash, false
	}
	rem, err := c.repo.Remote(remoteName)
	if err != nil {
		return plumbing.ZeroHash, false
	}
	lctx, cancel := c.netContext(ctx)
	defer cancel()
	refs, err := rem.ListContext(lctx, &gogit.ListOptions{
		Auth:            c.auth,
		CABundle:        c.opts.Auth.CABundle,
		InsecureSkipTLS: c.opts.InsecureSkipTLS,
	})
	if err != nil {
		return plumbing.ZeroHash, false
	}
	want := plumbing.NewBranchReferenceName(branch)
	for _, r := range refs {
		if r.Name() == want {
			return r.Hash(), r.Type() == plumbing.HashReference && r.Hash() == local.Hash()
		}
	}
	return plumbing.ZeroHash, false
}

// setReference stores r unless the storage already holds it: a reset at
// rest rewrites no file.
func (c *Checkout) setReference(r *plumbing.Reference) error {
	if !c.opts.reread {
		if cur, err := c.repo.Storer.Reference(r.Name()); err == nil && cur.Type() == r.Type() &&
			cur.Hash() == r.Hash() && cur.Target() == r.Target() {
			return nil
		}
	}
	return c.repo.Storer.SetReference(r)
}

// resetTo points the local branch and HEAD at h, and makes the index and
// worktree match it, removing untracked files. go-git does that by walking
// every file of the worktree, three times. When the clean mark says the
// worktree matches a commit (nothing was edited since the last reset to
// it), there is no walk: nothing to do when that commit is h (a run with
// nothing new costs a fetch), else only the paths that differ are written
// (fastForward), and the walk is the fallback.
func (c *Checkout) resetTo(h plumbing.Hash) error {
	if err := c.setReference(plumbing.NewHashReference(c.branchRef(), h)); err != nil {
		return err
	}
	if err := c.setReference(plumbing.NewSymbolicReference(plumbing.HEAD, c.branchRef())); err != nil {
		return err
	}
	from := plumbing.ZeroHash
	if !c.exposed {
		from = c.cleanAt()
	}
	if from == h && !h.IsZero() {
		c.head = h
		return nil
	}
	if err := c.markDirty(); err != nil {
		return err
	}
	if !from.IsZero() {
		err := c.fastForward(from, h)
		if err == nil {
			c.head = h
			return c.markClean(h)
		}
		c.log.Debug("walking the worktree", "reason", err.Error())
	}
	wt, err := c.repo.Worktree()
	if err != nil {
		return err
	}
	if err := wt.Reset(&gogit.ResetOptions{Mode: gogit.HardReset, Commit: h}); err != nil {
		return err
	}
	if err := wt.Clean(&gogit.CleanOptions{Dir: true}); err != nil {
		return err
	}
	c.head = h
	return c.markClean(h)
}

// cleanMark is the file, in the cache's .git directory, that holds the
// commit the index and worktree were last reset to. It is removed before
// anything edits the worktree, so its presence means nothing has since.
const cleanMark = "hoist-clean"

func (c *Checkout) cleanMarkPath() string { return filepath.Join(c.dir, ".git", cleanMark) }

// cleanAt returns the commit the clean mark names, or the zero hash.
func (c *Checkout) cleanAt() plumbing.Hash {
	b, err := os.ReadFile(c.cleanMarkPath())
	if err != nil {
		return plumbing.ZeroHash
	}
	return plumbing.NewHash(strings.TrimSpace(string(b))) // zero unless 40 hex digits
}

// markClean records that the index and worktree match h exactly.
func (c *Checkout) markClean(h plumbing.Hash) error {
	if err := os.WriteFile(c.cleanMarkPath(), []byte(h.String()+"\n"), 0o600); err != nil {
		return fmt.Errorf("marking the worktree clean: %w", err)
	}
	return nil
}

// markDirty removes the clean mark, before the worktree is edited.
func (c *Checkout) markDirty() error {
	if err := os.Remove(c.cleanMarkPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("marking the worktree edited: %w", err)
	}
	return nil
}

// Reset discards local changes and commits: the local branch, index and
// worktree return to Head, and untracked files are removed. It does not
// touch the network.
func (c *Checkout) Reset() error {
	if err := c.resetTo(c.head); err != nil {
		return c.redact(fmt.Errorf("resetting worktree %s to %s: %w", c.dir, c.head, err))
	}
	return nil
}

// netContext bounds one network operation by SyncOptions.Timeout.
func (c *Checkout) netContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return c.opts.netContext(ctx)
}

// clonePlain clones into dir within the network timeout.
func (c *Checkout) clonePlain(ctx context.Context, dir string, opts *gogit.CloneOptions) (*gogit.Repository, error) {
	ctx, cancel := c.netContext(ctx)
	defer cancel()
	return gogit.PlainCloneContext(ctx, dir, false, opts)
}
