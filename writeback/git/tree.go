package git

import (
	"errors"
	"io"
	"path"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TreeOf returns the hash of the tree at dir (a slash-separated path in
// the clone, "." for its root) in the head commit, when nothing under dir
// is a symbolic link: what a reading of the files under dir finds is then
// the same while the hash is (in the worktree, which a checkout keeps at
// its head), whatever else the commits changed. It returns "" when dir is
// not a directory of the head, when a link under it could lead the
// reading elsewhere, or when the objects cannot be read.
func (c *Checkout) TreeOf(dir string) string {
	commit, err := c.repo.CommitObject(c.head)
	if err != nil {
		return ""
	}
	t, err := commit.Tree()
	if err != nil {
		return ""
	}
	if dir = path.Clean(dir); dir != "." {
		if t, err = t.Tree(dir); err != nil {
			return ""
		}
	}
	w := object.NewTreeWalker(t, true, nil)
	defer w.Close()
	for {
		_, e, err := w.Next()
		if errors.Is(err, io.EOF) {
			return t.Hash.String()
		}
		if err != nil || e.Mode == filemode.Symlink {
			return ""
		}
	}
}
