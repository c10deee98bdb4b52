package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hoist-dev/hoist/automation"
	"github.com/hoist-dev/hoist/automation/state"
	"github.com/hoist-dev/hoist/internal/testenv"
	"github.com/hoist-dev/hoist/registry"
)

// recordsRepo is an ImageRepository of recordsEnv with its semver policy.
type recordsRepo struct {
	name    string
	missing bool // its image is not in the registry: its scans fail
	suspend bool
}

// recordsEnv is a service on a real registry and a state store, with the
// ImageRepositories repos (apps/NAME, tag 1.0.0) and an automation
// apps/fleet of every policy whose Git repository cannot be reached (its
// runs fail at once, which is all these tests need of them).
type recordsEnv struct {
	svc   *Service
	store *state.Store
	logs  *lockedBuffer
	seen  *signals
	dir   string
	conf  string
}

func newRecordsEnv(t *testing.T, repos []recordsRepo) *recordsEnv {
	t.Helper()
	reg := testenv.NewRegistry(t, testenv.RegistryOptions{})
	docs := `apiVersion: hoist.dev/v1alpha1
kind: ImageUpdateAutomation
metadata: {name: fleet, namespace: apps}
spec:
  git:
    url: http://127.0.0.1:1/fleet.git
    checkout: {ref: {branch: main}}
    commit: {author: {email: hoist@example.com}}
`
	for _, r := range repos {
		if !r.missing {
			reg.PushImage(t, "apps/"+r.name, "1.0.0", testenv.ImageOptions{})
		}
		docs += fmt.Sprintf(`---
apiVersion: hoist.dev/v1alpha1
kind: ImageRepository
metadata: {name: %[1]s, namespace: apps}
spec: {image: %[2]s, suspend: %[3]t}
---
apiVersion: hoist.dev/v1alpha1
kind: ImagePolicy
metadata: {name: %[1]s, namespace: apps}
spec:
  imageRepositoryRef: {name: %[1]s}
  policy: {semver: {range: '>=1'}}
`, r.name, reg.Ref("apps/"+r.name, ""), r.suspend)
	}
	e := &recordsEnv{dir: t.TempDir(), conf: filepath.Join(t.TempDir(), "hoist.yaml")}
	if err := os.WriteFile(e.conf, []byte(docs), 0o600); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	return e
}

// start builds and loads a service on e's state directory (a restart when
// one ran before: close its store first).
func (e *recordsEnv) start(t *testing.T) {
	t.Helper()
	st, err := state.Open(state.Path(e.dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	client, err := registry.New(registry.WithRateLimit(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	e.store, e.logs, e.seen = st, &lockedBuffer{}, newSignals()
	e.svc, err = NewService(ServiceOptions{
		Runner:      &automation.Runner{Scanner: &automation.Scanner{Registry: client}, StateDir: e.dir, State: st},
		ConfigPaths: []string{e.conf}, Registry: prometheus.NewRegistry(), Observer: e.seen,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)), Window: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Load(); err != nil {
		t.Fatal(err)
	}
}

// scan scans the repository apps/NAME.
func (e *recordsEnv) scan(t *testing.T, name string) {
	t.Helper()
	_ = e.svc.scanRepository(t.Context(), "apps/"+name) // a failed scan is the test's to see
}

// stored returns the reference the state store holds for apps:NAME.
func (e *recordsEnv) stored(t *testing.T, name string) string {
	t.Helper()
	rec, _, err := e.store.Selection("apps:" + name)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Ref
}

// queuedRuns returns the automations queued in the batcher (not running:
// the batches stay).
func (e *recordsEnv) queuedRuns() []string {
	b := e.svc.batch
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, bt := range b.batches {
		out = append(out, bt.items...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// signals is an Observer that hands over each scan and run.
type signals struct {
	scanned chan string
	ran     chan automation.RunResult
}

func newSignals() *signals {
	return &signals{scanned: make(chan string, 64), ran: make(chan automation.RunResult, 64)}
}

func (s *signals) Scanned(repository string, _ []automation.Selection) { s.scanned <- repository }
func (s *signals) Ran(res automation.RunResult)                        { s.ran <- res }

// holdWrites makes the writer's writes wait until release is called
// (once); entered is closed when the first write waits. The first write
// fails with fail, when set.
func holdWrites(w *selectionWriter, fail error) (entered <-chan struct{}, release func()) {
	held, in := make(chan struct{}), make(chan struct{})
	put := w.putAll
	var first sync.Once
	w.putAll = func(recs map[string]state.SelectionRecord) error {
		failed := false
		first.Do(func() {
			close(in)
			failed = fail != nil
		})
		<-held
		if failed {
			return fail
		}
		return put(recs)
	}
	var once sync.Once
	return in, func() { once.Do(func() { close(held) }) }
}

// TestStartupRunWaitsForFirstScans: until every repository was scanned
// once, an automation's run (its interval's, or one that a changed
// selection queues) waits for the first scans of its policies instead of
// scanning them itself; a policy whose scan failed, a suspended one and
// one resumed from the state store do not hold it back.
func TestStartupRunWaitsForFirstScans(t *testing.T) {
	type step struct {
		scan string // a repository scanned; "" for the automation's interval run
		want []string
	}
	fleet := []string{"apps/fleet"}
	tests := map[string]struct {
		repos   []recordsRepo
		resumed []string // scanned in a life before the restart
		steps   []step
	}{
		"interval run waits for every first scan": {
			repos: []recordsRepo{{name: "a"}, {name: "b"}},
			steps: []step{{scan: "", want: nil}, {scan: "a", want: nil}, {scan: "b", want: fleet}},
		},
		"changed selection waits for the other policy's scan": {
			repos: []recordsRepo{{name: "a"}, {name: "b"}},
			steps: []step{{scan: "a", want: nil}, {scan: "a", want: nil}, {scan: "b", want: fleet}},
		},
		"a failed scan does not hold it back": {
			repos: []recordsRepo{{name: "a"}, {name: "gone", missing: true}},
			steps: []step{{scan: "a", want: nil}, {scan: "gone", want: fleet}},
		},
		"a suspended repository does not hold it back": {
			repos: []recordsRepo{{name: "a"}, {name: "off", suspend: true}},
			steps: []step{{scan: "", want: nil}, {scan: "a", want: fleet}},
		},
		"a resumed selection does not hold it back": {
			repos:   []recordsRepo{{name: "a"}, {name: "b"}},
			resumed: []string{"b"},
			steps:   []step{{scan: "a", want: fleet}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newRecordsEnv(t, tc.repos)
			if tc.resumed != nil {
				for _, r := range tc.resumed {
					e.scan(t, r)
				}
				if err := e.store.Close(); err != nil {
					t.Fatal(err)
				}
				e.start(t)
			}
			for i, st := range tc.steps {
				if st.scan == "" {
					e.svc.sched.mu.Lock()
					job := e.svc.sched.jobs[autoJobPrefix+"apps/fleet"].job
					e.svc.sched.mu.Unlock()
					if err := job.Run(t.Context()); err != nil {
						t.Fatal(err)
					}
				} else {
					e.scan(t, st.scan)
				}
				if diff := cmp.Diff(st.want, e.queuedRuns()); diff != "" {
					t.Errorf("step %d (scan %q): runs queued (-want +got):\n%s", i, st.scan, diff)
				}
			}
		})
	}
}

// TestSelectionWriter covers the selections written behind the scans while
// the service runs.
func TestSelectionWriter(t *testing.T) {
	ab := []recordsRepo{{name: "a"}, {name: "b"}}

	// A run waits until the selections recorded before it are in the
	// store: what it writes to Git, a restart resumes.
	t.Run("a run waits for the records before it", func(t *testing.T) {
		e := newRecordsEnv(t, ab)
		w := e.svc.records
		w.start()
		t.Cleanup(w.stop)
		_, release := holdWrites(w, nil)
		t.Cleanup(release)
		e.scan(t, "a")
		ran := make(chan string, 1)
		go func() {
			_ = e.svc.flush(context.Background(), "", []string{"apps/fleet"})
			ran <- e.stored(t, "a")
		}()
		// The run must wait: until it does, the write stays held.
		for waiting := false; !waiting; {
			select {
			case got := <-ran:
				t.Fatalf("the run went before the record was written (store: %q)", got)
			default:
			}
			w.mu.Lock()
			waiting = w.waiting > 0
			w.mu.Unlock()
			runtime.Gosched()
		}
		release()
		if got := <-ran; !strings.HasSuffix(got, "apps/a:1.0.0") {
			t.Errorf("store after the run's wait: %q, want apps/a:1.0.0", got)
		}
	})

	// /status shows a selection whose record is not written yet.
	t.Run("status shows the records not yet written", func(t *testing.T) {
		e := newRecordsEnv(t, ab)
		w := e.svc.records
		w.start()
		t.Cleanup(w.stop)
		_, release := holdWrites(w, nil)
		t.Cleanup(release)
		e.scan(t, "a")
		if got := e.stored(t, "a"); got != "" {
			t.Fatalf("store before the write: %q", got)
		}
		var ref string
		for _, p := range e.svc.Status().Policies {
			if p.Name == "a" {
				ref = p.Ref
			}
		}
		if !strings.HasSuffix(ref, "apps/a:1.0.0") {
			t.Errorf("status of apps:a: ref %q, want apps/a:1.0.0", ref)
		}
	})

	// A write that failed is logged; the record stays the policy's, and
	// the next scan writes it (without a second "selection changed").
	t.Run("a failed write is written by the next scan", func(t *testing.T) {
		e := newRecordsEnv(t, ab)
		w := e.svc.records
		put := w.putAll
		failed := false
		w.putAll = func(recs map[string]state.SelectionRecord) error {
			if !failed {
				failed = true
				return errors.New("disk full")
			}
			return put(recs)
		}
		w.start()
		t.Cleanup(w.stop)
		e.scan(t, "a")
		w.wait()
		if got := e.stored(t, "a"); got != "" {
			t.Fatalf("store after the failed write: %q", got)
		}
		if n := e.logs.count("recording selections"); n != 1 {
			t.Errorf("failed write logged %d times, want 1:\n%s", n, e.logs.b.String())
		}
		e.scan(t, "a")
		w.wait()
		if got := e.stored(t, "a"); !strings.HasSuffix(got, "apps/a:1.0.0") {
			t.Errorf("store after the next scan: %q, want apps/a:1.0.0", got)
		}
		if n := e.logs.count(`msg="selection changed"`); n != 1 {
			t.Errorf(`"selection changed" logged %d times, want 1`, n)
		}
	})

	// A selection that goes back to the one stored while the newer
	// record waits to be written is a change, and its record is written
	// after the newer one.
	t.Run("a selection back to the stored one while a newer waits", func(t *testing.T) {
		e := newRecordsEnv(t, ab)
		w := e.svc.records
		w.start()
		t.Cleanup(w.stop)
		p := e.svc.cur.Load().policy("apps:a")
		sel := func(tag string) automation.Selection {
			return automation.Selection{Namespace: "apps", Name: "a", Tag: tag, Ref: "example.com/apps/a:" + tag, TagsSum: [32]byte{tag[0], tag[2]}}
		}
		var changed []bool
		changed = append(changed, e.svc.recordSelection(p, sel("1.0")))
		w.wait()
		entered, release := holdWrites(w, nil)
		t.Cleanup(release)
		changed = append(changed, e.svc.recordSelection(p, sel("1.1")))
		<-entered
		changed = append(changed, e.svc.recordSelection(p, sel("1.0")))
		release()
		w.wait()
		if diff := cmp.Diff([]bool{true, true, true}, changed); diff != "" {
			t.Errorf("changed (-want +got):\n%s", diff)
		}
		if got := e.stored(t, "a"); got != "example.com/apps/a:1.0" {
			t.Errorf("store: %q, want example.com/apps/a:1.0", got)
		}
	})

	// Run writes what is pending when it ends (here: the records of a
	// write that failed); a restart resumes it.
	t.Run("shutdown writes the records pending", func(t *testing.T) {
		e := newRecordsEnv(t, ab)
		e.svc.sched.o.StartupSpread = -1
		w := e.svc.records
		entered, release := holdWrites(w, errors.New("disk full"))
		t.Cleanup(release)
		ctx, cancel := context.WithCancel(t.Context())
		stopped := make(chan error, 1)
		go func() { stopped <- e.svc.Run(ctx) }()
		scanned := map[string]bool{}
		for len(scanned) < 2 {
			scanned[<-e.seen.scanned] = true
		}
		// The first write is held, and fails when released; no write
		// is due after it (wake emptied) but the one at shutdown.
		<-entered
		select {
		case <-w.wake:
		default:
		}
		cancel()
		release()
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"a", "b"} {
			if got := e.stored(t, name); !strings.HasSuffix(got, "apps/"+name+":1.0.0") {
				t.Errorf("store after shutdown, apps:%s: %q", name, got)
			}
		}
		if err := e.store.Close(); err != nil {
			t.Fatal(err)
		}
		e.start(t)
		for _, name := range []string{"a", "b"} {
			p := e.svc.cur.Load().policy("apps:" + name)
			if ref, ok := e.svc.knownSelection(p); !ok || !strings.HasSuffix(ref, "apps/"+name+":1.0.0") {
				t.Errorf("after the restart, apps:%s resumed %q, %v", name, ref, ok)
			}
		}
	})
}
