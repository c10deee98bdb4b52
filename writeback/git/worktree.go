package git

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	gogit "github.com/go-git/go-git/v5"
)

// WorkTree finds the Git working tree that holds path (a file or a
// directory, searched upwards, linked worktrees included): its root and
// the URLs of its remotes. ok is false when path is in no working tree.
func WorkTree(path string) (root string, remotes []string, ok bool, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", nil, false, err
	}
	repo, err := gogit.PlainOpenWithOptions(abs, &gogit.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if errors.Is(err, gogit.ErrRepositoryNotExists) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, fmt.Errorf("opening the Git working tree of %s: %w", path, err)
	}
	wt, err := repo.Worktree()
	if errors.Is(err, gogit.ErrIsBareRepository) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, fmt.Errorf("opening the Git working tree of %s: %w", path, err)
	}
	rs, err := repo.Remotes()
	if err != nil {
		return "", nil, false, fmt.Errorf("reading the remotes of %s: %w", wt.Filesystem.Root(), err)
	}
	for _, r := range rs {
		remotes = append(remotes, r.Config().URLs...)
	}
	return wt.Filesystem.Root(), remotes, true, nil
}

// SameRepository reports whether two remote URLs name the same
// repository: the same host and path, whatever the scheme, the user, a
// trailing ".git" or "/" and the case of the host (git@host:org/repo.git
// and https://host/org/repo are the same).
func SameRepository(a, b string) bool {
	ra, errA := ParseRemoteURL(a)
	rb, errB := ParseRemoteURL(b)
	if errA != nil || errB != nil {
		return false
	}
	key := func(r RemoteURL) string {
		host := strings.ToLower(r.Host)
		if r.Scheme == "file" {
			host = ""
		}
		p := strings.Trim(r.Path, "/")
		p = strings.TrimSuffix(strings.TrimSuffix(p, "/"), ".git")
		return host + "/" + p
	}
	return key(ra) == key(rb)
}
