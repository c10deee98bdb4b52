package git

import (
	"context"
	"errors"
	"fmt"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"
)

// RemoteHead lists the references of opts' remote, the request a fetch
// starts with, and returns the commit its branch opts.Branch is at. It
// leaves the cache alone (no lock, no clone opened): for a caller that
// only needs to know whether the branch moved since a checkout it
// remembers. A remote without the branch is ErrBranchNotFound. The
// listing is bounded by opts.Timeout; of opts, CacheDir is not used.
func RemoteHead(ctx context.Context, opts SyncOptions) (string, error) {
	if opts.CacheDir == "" {
		opts.CacheDir = "." // not used; Validate asks for one
	}
	auth, err := opts.connect(ctx, "listing")
	if err != nil {
		return "", err
	}
	rem := gogit.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: remoteName, URLs: []string{opts.URL}})
	lctx, cancel := opts.netContext(ctx)
	defer cancel()
	refs, err := rem.ListContext(lctx, &gogit.ListOptions{
		Auth:            auth,
		CABundle:        opts.Auth.CABundle,
		InsecureSkipTLS: opts.InsecureSkipTLS,
	})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		refs, err = nil, nil
	}
	if err != nil {
		return "", redactError(fmt.Errorf("listing %s: %w", opts.remote, err), opts.secrets()...)
	}
	want := plumbing.NewBranchReferenceName(opts.Branch)
	for _, r := range refs {
		if r.Name() == want && r.Type() == plumbing.HashReference {
			return r.Hash().String(), nil
		}
	}
	return "", fmt.Errorf("listing %s: %w: %q", opts.remote, ErrBranchNotFound, opts.Branch)
}
