package git

import (
	"sort"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-billy/v5/util"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/revlist"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/google/go-cmp/cmp"
)

// memRepo is an in-memory repository to build commits in.
type memRepo struct {
	t    *testing.T
	repo *gogit.Repository
	wt   *gogit.Worktree
	when time.Time
}

func newMemRepo(t *testing.T) *memRepo {
	t.Helper()
	repo, err := gogit.Init(memory.NewStorage(), memfs.New())
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	return &memRepo{t: t, repo: repo, wt: wt, when: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// commit writes files (an empty content removes the file) and commits
// them, on extra parents too when given.
func (m *memRepo) commit(files map[string]string, parents ...plumbing.Hash) plumbing.Hash {
	m.t.Helper()
	for p, content := range files {
		var err error
		if content == "" {
			_, err = m.wt.Remove(p)
		} else {
			if err = util.WriteFile(m.wt.Filesystem, p, []byte(content), 0o644); err == nil {
				_, err = m.wt.Add(p)
			}
		}
		if err != nil {
			m.t.Fatal(err)
		}
	}
	m.when = m.when.Add(time.Second)
	sig := &object.Signature{Name: "t", Email: "t@example.com", When: m.when}
	opts := &gogit.CommitOptions{Author: sig, Committer: sig, AllowEmptyCommits: true}
	if len(parents) > 0 {
		head, err := m.repo.Head()
		if err != nil {
			m.t.Fatal(err)
		}
		opts.Parents = append([]plumbing.Hash{head.Hash()}, parents...)
	}
	h, err := m.wt.Commit("c", opts)
	if err != nil {
		m.t.Fatal(err)
	}
	return h
}

func sortedHashes(hs []plumbing.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	sort.Strings(out)
	return out
}

// TestObjectsToSend checks the objects a push sends against go-git's
// revlist, which walks the whole history behind the remote's commit.
func TestObjectsToSend(t *testing.T) {
	base := map[string]string{
		"apps/team-a/app.yaml":   "image: a:1\n",
		"apps/team-a/other.yaml": "image: o:1\n",
		"apps/team-b/app.yaml":   "image: b:1\n",
		"README.md":              "# fleet\n",
	}
	tests := map[string]struct {
		// commits are made one after the other on base.
		commits []map[string]string
		// merge makes the last commit a merge with a side branch.
		merge bool
		// walked reports whether the walk applies (no fallback).
		walked bool
		// resends: the walk sends objects the remote has (a tree or
		// file back to an earlier content), which revlist would leave out.
		resends bool
	}{
		"one file deep":      {commits: []map[string]string{{"apps/team-a/app.yaml": "image: a:2\n"}}, walked: true},
		"file at the root":   {commits: []map[string]string{{"README.md": "# fleet!\n"}}, walked: true},
		"new directories":    {commits: []map[string]string{{"apps/team-c/x/app.yaml": "image: c:1\n"}}, walked: true},
		"file removed":       {commits: []map[string]string{{"apps/team-b/app.yaml": ""}}, walked: true},
		"file becomes a dir": {commits: []map[string]string{{"README.md": "", "README.md/x": "x\n"}}, walked: true},
		"back to old content": {commits: []map[string]string{
			{"apps/team-a/app.yaml": "image: a:2\n"},
			{"apps/team-a/app.yaml": "image: a:1\n"},
		}, walked: true, resends: true},
		"three commits": {commits: []map[string]string{
			{"apps/team-a/app.yaml": "image: a:2\n"},
			{"apps/team-b/app.yaml": "image: b:2\n", "apps/team-a/other.yaml": "image: o:2\n"},
			{"apps/team-a/app.yaml": "image: a:3\n"},
		}, walked: true},
		"merge": {commits: []map[string]string{{"apps/team-a/app.yaml": "image: a:2\n"}}, merge: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := newMemRepo(t)
			m.commit(map[string]string{"old.yaml": "history\n"})
			m.commit(map[string]string{"old.yaml": ""})
			baseHash := m.commit(base)
			var parents []plumbing.Hash
			if tc.merge {
				// A side commit the remote has (under another ref).
				side := m.commit(map[string]string{"side.yaml": "s\n"})
				if err := m.wt.Reset(&gogit.ResetOptions{Commit: baseHash, Mode: gogit.HardReset}); err != nil {
					t.Fatal(err)
				}
				parents = []plumbing.Hash{side}
			}
			var local plumbing.Hash
			for i, files := range tc.commits {
				if i == len(tc.commits)-1 {
					local = m.commit(files, parents...)
				} else {
					local = m.commit(files)
				}
			}
			haves := map[plumbing.Hash]bool{baseHash: true}
			for _, p := range parents {
				haves[p] = true
			}
			c := &Checkout{repo: m.repo}
			got, chain, err := c.objectsToSend(local, haves)
			if err != nil {
				t.Fatal(err)
			}
			want, err := revlist.Objects(m.repo.Storer, []plumbing.Hash{local}, append([]plumbing.Hash{baseHash}, parents...))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.resends {
				if diff := cmp.Diff(sortedHashes(want), sortedHashes(got)); diff != "" {
					t.Errorf("objects to send (-revlist +got):\n%s", diff)
				}
			}
			// Whatever the walk sends beyond revlist, the remote has.
			remote, err := revlist.Objects(m.repo.Storer, append([]plumbing.Hash{baseHash}, parents...), nil)
			if err != nil {
				t.Fatal(err)
			}
			set := func(hs []plumbing.Hash) map[plumbing.Hash]bool {
				m := map[plumbing.Hash]bool{}
				for _, h := range hs {
					m[h] = true
				}
				return m
			}
			sent, needed, has := set(got), set(want), set(remote)
			for h := range needed {
				if !sent[h] {
					t.Errorf("object %s, which the remote lacks, is not sent", h)
				}
			}
			for h := range sent {
				if !needed[h] && !has[h] {
					t.Errorf("object %s is sent, but neither new nor the remote's", h)
				}
			}
			if got := chain[baseHash]; got != tc.walked {
				t.Errorf("walked down to the base: %v, want %v", got, tc.walked)
			}
			if !tc.merge && !chain[local] {
				t.Errorf("the walked commits miss the pushed one")
			}
		})
	}
}

// TestObjectsToSendRename: a file moved to another path is sent again
// (revlist would find the remote has it); the walk never reads the rest of
// the tree or the history to avoid that.
func TestObjectsToSendRename(t *testing.T) {
	m := newMemRepo(t)
	baseHash := m.commit(map[string]string{"a/app.yaml": "image: a:1\n", "b/keep.yaml": "k\n"})
	local := m.commit(map[string]string{"a/app.yaml": "", "c/app.yaml": "image: a:1\n"})
	c := &Checkout{repo: m.repo}
	got, _, err := c.objectsToSend(local, map[plumbing.Hash]bool{baseHash: true})
	if err != nil {
		t.Fatal(err)
	}
	commit, err := m.repo.CommitObject(local)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := commit.Tree()
	if err != nil {
		t.Fatal(err)
	}
	sub, err := tree.Tree("c")
	if err != nil {
		t.Fatal(err)
	}
	want := []plumbing.Hash{local, tree.Hash, sub.Hash, sub.Entries[0].Hash}
	if diff := cmp.Diff(sortedHashes(want), sortedHashes(got)); diff != "" {
		t.Errorf("objects to send (-want +got):\n%s", diff)
	}
}
