// Package git keeps a Git checkout for hoist's write-back: it clones a
// remote branch once into a cache directory and fetches incrementally
// afterwards, commits the edits that hoist made in the worktree, signs the
// commit when asked, and pushes to the checkout branch or to hoist's own
// push branch. Update ties these together and handles a push that races
// another writer by re-planning the edits on the new remote head.
//
// The package uses go-git; it never runs the git binary. Credentials
// (Auth) are passed to go-git separately from the remote URL: they never
// appear in the URL written to .git/config, in errors, or in commit
// messages.
//
// A typical run:
//
//	co, err := git.Sync(ctx, git.SyncOptions{URL: url, Branch: "main", CacheDir: dir, Auth: auth})
//	if err != nil { ... }
//	defer co.Close()
//	out, err := co.Update(ctx, edit, git.UpdateOptions{Commit: commitOpts, Push: pushOpts})
package git
