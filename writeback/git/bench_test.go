package git_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/writeback"
	"github.com/hoist-dev/hoist/writeback/git"
)

// benchRepo is a generated repository served over smart HTTP.
type benchRepo struct {
	srv   *testenv.GitServer
	url   string
	bare  string
	files int
	mark  int // last fast-import mark, to append commits
}

func benchFile(i int) string { return fmt.Sprintf("apps/team-%03d/app-%05d.yaml", i%100, i) }

func benchContent(i, version int) string {
	return fmt.Sprintf("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-%05d\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/app-%05d:1.%d.0 # {\"$imagepolicy\": \"apps:app-%05d\"}\n", i, i, version, i)
}

// newBenchRepo makes a repository with files files in its first commit and
// commits-1 more commits that each change 4 files, using git fast-import.
func newBenchRepo(b testing.TB, files, commits int) *benchRepo {
	b.Helper()
	srv := testenv.NewGitServer(b, testenv.GitServerOptions{Username: testUser, Password: testPassword})
	r := &benchRepo{srv: srv, url: srv.CreateRepo(b, "big.git", "main"), bare: srv.RepoDir("big.git"), files: files}
	var s bytes.Buffer
	when := int64(1700000000)
	commit := func(msg string, changes map[string]string) {
		r.mark++
		fmt.Fprintf(&s, "commit refs/heads/main\nmark :%d\ncommitter Gen <gen@example.com> %d +0000\ndata %d\n%s\n", r.mark, when, len(msg), msg)
		when++
		if r.mark > 1 {
			fmt.Fprintf(&s, "from :%d\n", r.mark-1)
		}
		for p, c := range changes {
			fmt.Fprintf(&s, "M 100644 inline %s\ndata %d\n%s\n", p, len(c), c)
		}
	}
	first := make(map[string]string, files)
	for i := 0; i < files; i++ {
		first[benchFile(i)] = benchContent(i, 0)
	}
	commit("initial", first)
	for c := 1; c < commits; c++ {
		ch := map[string]string{}
		for k := 0; k < 4; k++ {
			i := (c*7919 + k*104729) % files
			ch[benchFile(i)] = benchContent(i, c)
		}
		commit(fmt.Sprintf("change %d", c), ch)
	}
	if _, err := testenv.GitCLIResult(r.bare, &s, "fast-import", "--quiet"); err != nil {
		b.Fatal(err)
	}
	testenv.GitCLI(b, r.bare, "repack", "-adq")
	return r
}

// otherWriter appends a commit changing one file on main, as another writer
// would, without going through HTTP.
func (r *benchRepo) otherWriter(b *testing.B, n int) {
	b.Helper()
	i := n % r.files
	c := benchContent(i, 100000+n)
	msg := fmt.Sprintf("other %d", n)
	stream := fmt.Sprintf("commit refs/heads/main\ncommitter Other <o@example.com> %d +0000\ndata %d\n%s\nfrom refs/heads/main^0\nM 100644 inline %s\ndata %d\n%s\n",
		1800000000+n, len(msg), msg, benchFile(i), len(c), c)
	if _, err := testenv.GitCLIResult(r.bare, strings.NewReader(stream), "fast-import", "--quiet"); err != nil {
		b.Fatal(err)
	}
}

func (r *benchRepo) syncOptions(cache string) git.SyncOptions {
	return git.SyncOptions{URL: r.url, Branch: "main", CacheDir: cache, Auth: git.Auth{Username: testUser, Password: testPassword}}
}

// bumpOne is an edit that changes the image of one file per call.
func bumpOne(r *benchRepo, n *int) git.EditFunc {
	return func(ctx context.Context, dir string) ([]writeback.Change, error) {
		*n++
		i := (*n * 31) % r.files
		p := filepath.Join(dir, filepath.FromSlash(benchFile(i)))
		old, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		tmp := p + ".tmp"
		if err := os.WriteFile(tmp, []byte(benchContent(i, 200000+*n)), 0o644); err != nil {
			return nil, err
		}
		return []writeback.Change{{File: benchFile(i), Old: string(old[:10]), New: "new"}}, os.Rename(tmp, p)
	}
}

// BenchmarkSync compares the first run (clone) with the next runs (fetch,
// commit, push) on repositories of the same size with long and short
// histories. Custom metrics: bytes the server received and sent per run.
//
//	go test -run XXX -bench Sync -benchtime 5x ./writeback/git/
func BenchmarkSync(b *testing.B) {
	sizes := []struct {
		name           string
		files, commits int
	}{
		{"files=20000/commits=5000", 20000, 5000},
		{"files=20000/commits=50", 20000, 50},
		{"files=200/commits=5000", 200, 5000},
	}
	for _, size := range sizes {
		b.Run(size.name, func(b *testing.B) {
			start := time.Now()
			r := newBenchRepo(b, size.files, size.commits)
			b.Logf("generated %d files, %d commits in %v", size.files, size.commits, time.Since(start).Round(time.Millisecond))
			ctx := context.Background()
			// Counts edits across the rounds the benchmark framework runs,
			// so that every edit makes a new change.
			n := 0

			b.Run("clone", func(b *testing.B) {
				b.ReportAllocs()
				r.srv.ResetTraffic()
				for i := 0; i < b.N; i++ {
					co, err := git.Sync(ctx, r.syncOptions(b.TempDir()))
					if err != nil {
						b.Fatal(err)
					}
					co.Close()
				}
				tr := r.srv.Traffic()
				b.ReportMetric(float64(tr.BytesOut)/float64(b.N), "B-recv/op")
				b.ReportMetric(float64(tr.BytesIn)/float64(b.N), "B-sent/op")
			})

			b.Run("clone-full-history", func(b *testing.B) {
				b.ReportAllocs()
				r.srv.ResetTraffic()
				for i := 0; i < b.N; i++ {
					opts := r.syncOptions(b.TempDir())
					opts.FullHistory = true
					co, err := git.Sync(ctx, opts)
					if err != nil {
						b.Fatal(err)
					}
					co.Close()
				}
				tr := r.srv.Traffic()
				b.ReportMetric(float64(tr.BytesOut)/float64(b.N), "B-recv/op")
				b.ReportMetric(float64(tr.BytesIn)/float64(b.N), "B-sent/op")
			})

			// A run with nothing to do (the common case of a service):
			// Sync, an edit that changes nothing, Close. "untouched"
			// trusts the clean mark the last run left: the head's commit
			// and tree are not read again, no reference is rewritten,
			// and the remote's unchanged head is listed, not fetched;
			// "reread" trusts only the worktree (it reads the commit and
			// tree, rewrites the references, fetches through go-git: what
			// every run did before); "walk" removes the mark first, as
			// after another writer's push, so the worktree is walked and
			// reset.
			for _, mode := range []string{"untouched", "reread", "walk"} {
				b.Run("nothing-to-do/"+mode, func(b *testing.B) {
					b.ReportAllocs()
					opts := r.syncOptions(b.TempDir())
					opts.ListFirst = mode == "untouched"
					if mode == "reread" {
						git.RereadAtRest(&opts)
					}
					co, err := git.Sync(ctx, opts)
					if err != nil {
						b.Fatal(err)
					}
					co.Close()
					marks, err := filepath.Glob(filepath.Join(opts.CacheDir, "*", ".git", "hoist-clean"))
					if err != nil || len(marks) != 1 {
						b.Fatalf("clean mark: %v %v", marks, err)
					}
					noop := func(context.Context, string) ([]writeback.Change, error) { return nil, nil }
					self, kids := cpuTimes()
					for b.Loop() {
						if mode == "walk" {
							b.StopTimer()
							if err := os.Remove(marks[0]); err != nil {
								b.Fatal(err)
							}
							b.StartTimer()
						}
						co, err := git.Sync(ctx, opts)
						if err != nil {
							b.Fatal(err)
						}
						out, err := co.Update(ctx, noop, git.UpdateOptions{Commit: commitOptions()})
						co.Close()
						if err != nil || !out.NothingToDo {
							b.Fatalf("run: %+v %v", out, err)
						}
					}
					// The CPU of this process (hoist, and the Git server's
					// HTTP side) and of the Git server's git processes.
					self2, kids2 := cpuTimes()
					b.ReportMetric(float64((self2-self).Microseconds())/float64(b.N), "cpu-µs/op")
					b.ReportMetric(float64((kids2-kids).Microseconds())/float64(b.N), "git-cpu-µs/op")
				})
			}

			// The Sync that packs 33 packfiles into one (once every 32
			// fetches) against the Sync after it, with two packfiles. Each
			// round fetches 33 times first, so only on one size.
			if size.files == 20000 && size.commits == 50 {
				b.Run("sync/packing", func(b *testing.B) {
					benchPacking(b, r, &n, true)
				})
				b.Run("sync/packed", func(b *testing.B) {
					benchPacking(b, r, &n, false)
				})
			}

			b.Run("fetch-commit-push", func(b *testing.B) {
				b.ReportAllocs()
				co, err := git.Sync(ctx, r.syncOptions(b.TempDir()))
				if err != nil {
					b.Fatal(err)
				}
				defer co.Close()
				opts := git.UpdateOptions{Commit: commitOptions()}
				b.ResetTimer()
				r.srv.ResetTraffic()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					r.otherWriter(b, n)
					b.StartTimer()
					if err := co.Refresh(ctx); err != nil {
						b.Fatal(err)
					}
					out, err := co.Update(ctx, bumpOne(r, &n), opts)
					if err != nil {
						b.Fatal(err)
					}
					if !out.Pushed {
						b.Fatalf("not pushed: %+v", out)
					}
				}
				tr := r.srv.Traffic()
				b.ReportMetric(float64(tr.BytesOut)/float64(b.N), "B-recv/op")
				b.ReportMetric(float64(tr.BytesIn)/float64(b.N), "B-sent/op")
			})
		})
	}
}

// benchPacking times one Sync after another writer's commit, from a cache
// holding 33 packfiles (packing) or freshly packed.
func benchPacking(b *testing.B, r *benchRepo, n *int, packing bool) {
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		opts := r.syncOptions(b.TempDir())
		co, err := git.Sync(ctx, opts)
		if err != nil {
			b.Fatal(err)
		}
		co.Close()
		fetches := 32 // 33 packfiles: the next Sync packs
		if !packing {
			fetches = 33 // packed by the last of these
		}
		for range fetches {
			r.otherWriter(b, *n)
			*n++
			co, err := git.Sync(ctx, opts)
			if err != nil {
				b.Fatal(err)
			}
			co.Close()
		}
		r.otherWriter(b, *n)
		*n++
		b.StartTimer()
		co, err = git.Sync(ctx, opts)
		if err != nil {
			b.Fatal(err)
		}
		co.Close()
	}
}
