package service_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hoist-dev/hoist/config"
	"github.com/hoist-dev/hoist/service"
)

func repoDoc(name string) string {
	return fmt.Sprintf(`apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: %[1]s, namespace: apps}
spec:
  image: ghcr.io/example/%[1]s
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: %[1]s, namespace: apps}
spec:
  imageRepositoryRef: {name: %[1]s}
  policy: {semver: {range: '^1'}}
`, name)
}

// files writes configuration files with distinct modification times, so
// that every write is a change even within the file system's mtime
// granularity.
type files struct {
	t     *testing.T
	dir   string
	mtime time.Time
}

func (f *files) write(name, content string) {
	f.t.Helper()
	path := filepath.Join(f.dir, name)
	check(f.t, os.MkdirAll(filepath.Dir(path), 0o755))
	check(f.t, os.WriteFile(path, []byte(content), 0o644))
	f.mtime = f.mtime.Add(time.Second)
	check(f.t, os.Chtimes(path, f.mtime, f.mtime))
}

func (f *files) remove(name string) {
	f.t.Helper()
	check(f.t, os.RemoveAll(filepath.Join(f.dir, name)))
}

// events records the callbacks of a ConfigWatcher as lines.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) onChange(set *config.Set) {
	var names []string
	for _, p := range set.Policies {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	e.add("change " + strings.Join(names, ","))
}

func (e *events) onError(err error) { e.add("error " + err.Error()) }

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, s)
}

func (e *events) take() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	got := e.got
	e.got = nil
	return got
}

func TestConfigWatcher(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		root := t.TempDir()
		dir := filepath.Join(root, "config")
		f := &files{t: t, dir: root, mtime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		f.write("config/podinfo.yaml", repoDoc("podinfo"))
		f.write("extra.yaml", repoDoc("extra"))

		clock := newFakeClock()
		ev := &events{}
		w := service.NewConfigWatcher([]string{dir, filepath.Join(root, "extra.yaml")}, service.ConfigWatcherOptions{
			Clock: clock, OnChange: ev.onChange, OnError: ev.onError,
		})
		set, err := w.Load()
		if err != nil {
			t.Fatal(err)
		}
		if w.Current() != set || len(set.Policies) != 2 {
			t.Fatalf("Load: %d policies, Current %p, want 2 policies and %p", len(set.Policies), w.Current(), set)
		}
		cancel, wait := startRun(t, w.Run)

		// want lists the callbacks; an error is matched by its prefix.
		steps := []struct {
			name string
			edit func()
			want []string
		}{
			{"nothing changed", func() {}, nil},
			{"valid edit", func() { f.write("config/podinfo.yaml", repoDoc("podinfo")+"---\n"+repoDoc("nginx")) },
				[]string{"change apps/podinfo,apps/nginx,apps/extra"}},
			{"broken edit", func() { f.write("config/podinfo.yaml", "apiVersion: hoist.dev/v1alpha1\nkind: ImagePolicy\nspec: [\n") },
				[]string{"error reloading configuration: " + filepath.Join(dir, "podinfo.yaml") + ":"}},
			{"broken file left as it is", func() {}, nil},
			{"fix", func() { f.write("config/podinfo.yaml", repoDoc("podinfo")) },
				[]string{"change apps/podinfo,apps/extra"}},
			{"new file in a subdirectory", func() { f.write("config/team/nginx.yml", repoDoc("nginx")) },
				[]string{"change apps/podinfo,apps/nginx,apps/extra"}},
			{"files that are not read", func() {
				f.write("config/README.md", "# notes")
				f.write("config/.git/HEAD.yaml", "not: read")
			}, nil},
			{"file removed", func() { f.remove("config/team") },
				[]string{"change apps/podinfo,apps/extra"}},
			{"watched file removed", func() { f.remove("extra.yaml") },
				[]string{"error reloading configuration: reading config: stat " + filepath.Join(root, "extra.yaml") + ": "}},
			{"watched file back", func() { f.write("extra.yaml", repoDoc("extra")) },
				[]string{"change apps/podinfo,apps/extra"}},
		}
		for _, step := range steps {
			step.edit()
			clock.Advance(service.DefaultPollInterval + service.DefaultDebounce)
			clock.Advance(10 * service.DefaultPollInterval) // no more reloads
			got := ev.take()
			for i := range min(len(got), len(step.want)) {
				if strings.HasPrefix(step.want[i], "error ") && strings.HasPrefix(got[i], step.want[i]) {
					got[i] = step.want[i]
				}
			}
			if diff := cmp.Diff(step.want, got); diff != "" {
				t.Errorf("%s: callbacks (-want +got):\n%s", step.name, diff)
			}
			if n := len(w.Current().Policies); step.name == "broken edit" && n != 3 {
				t.Errorf("after a broken edit, Current has %d policies, want the last good 3", n)
			}
		}
		cancel()
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestConfigWatcherDebounces(t *testing.T) {
	tests := map[string]struct {
		debounce time.Duration
		want     int // reloads for one burst
	}{
		"default debounce": {0, 1},
		"no debounce":      {-1, 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dir := t.TempDir()
				f := &files{t: t, dir: dir, mtime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
				f.write("a.yaml", repoDoc("a"))
				clock := newFakeClock()
				ev := &events{}
				w := service.NewConfigWatcher([]string{dir}, service.ConfigWatcherOptions{
					Clock: clock, OnChange: ev.onChange, OnError: ev.onError, Debounce: tc.debounce,
				})
				cancel, wait := startRun(t, w.Run) // Run without Load: the files now are the baseline
				// A burst: the watcher sees a change, and another at each
				// look while it waits for the files to settle.
				f.write("b.yaml", repoDoc("b"))
				clock.Advance(service.DefaultPollInterval)
				f.write("c.yaml", repoDoc("c"))
				clock.Advance(service.DefaultDebounce)
				f.write("d.yaml", repoDoc("d"))
				clock.Advance(service.DefaultDebounce)
				clock.Advance(time.Minute)
				got := ev.take()
				if len(got) != tc.want {
					t.Errorf("%d reloads, want %d: %q", len(got), tc.want, got)
				}
				if len(got) > 0 && got[len(got)-1] != "change apps/a,apps/b,apps/c,apps/d" {
					t.Errorf("last reload: %q, want all four policies", got[len(got)-1])
				}
				if w.Current() == nil || len(w.Current().Policies) != 4 {
					t.Errorf("Current is not the last configuration")
				}
				cancel()
				if err := wait(); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
