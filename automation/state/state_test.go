package state_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"github.com/hoist-dev/hoist/automation/state"
)

func openState(t *testing.T, path string) *state.Store {
	t.Helper()
	s, err := state.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stateContents is everything a test reads back from a store.
type stateContents struct {
	Selections map[string]state.SelectionRecord
	Pushes     map[string]state.PushRecord
	Successes  map[string]time.Time
	// Written are the values written to the target "w", if any.
	Written     map[string]state.WrittenRecord
	MissingSel  bool
	MissingPush bool
	MissingSucc bool
}

func readState(t *testing.T, s *state.Store, automations ...string) stateContents {
	t.Helper()
	var c stateContents
	var err error
	if c.Selections, err = s.Selections(); err != nil {
		t.Fatal(err)
	}
	c.Pushes, c.Successes = map[string]state.PushRecord{}, map[string]time.Time{}
	for _, a := range automations {
		p, ok, err := s.LastPush(a)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			c.Pushes[a] = p
		}
		at, ok, err := s.LastSuccess(a)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			c.Successes[a] = at
		}
	}
	if w, ok, err := s.Written("w"); err != nil {
		t.Fatal(err)
	} else if ok {
		c.Written = map[string]state.WrittenRecord{"w": w}
	}
	_, ok, err := s.Selection("apps:missing")
	c.MissingSel = !ok && err == nil
	_, ok, err = s.LastPush("apps/missing")
	c.MissingPush = !ok && err == nil
	_, ok, err = s.LastSuccess("apps/missing")
	c.MissingSucc = !ok && err == nil
	return c
}

func TestStateStoreSurvivesRestart(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	podinfo := state.SelectionRecord{Ref: "ghcr.io/stefanprodan/podinfo:6.7.1", Tag: "6.7.1", At: at}
	nginx := state.SelectionRecord{Ref: "nginx:1.27@sha256:" + strings.Repeat("a", 64), Tag: "1.27", Digest: "sha256:" + strings.Repeat("a", 64), At: at.Add(time.Minute)}
	push := state.PushRecord{Commit: strings.Repeat("c", 40), Branch: "main", At: at.Add(2 * time.Minute)}

	tests := map[string]struct {
		write func(t *testing.T, s *state.Store)
		want  stateContents
	}{
		"empty": {
			write: func(*testing.T, *state.Store) {},
			want:  stateContents{Selections: map[string]state.SelectionRecord{}},
		},
		"everything": {
			write: func(t *testing.T, s *state.Store) {
				check(t, s.PutSelection("apps:podinfo", podinfo))
				check(t, s.PutSelections(map[string]state.SelectionRecord{"apps:nginx": nginx, "apps:gone": podinfo}))
				check(t, s.DeleteSelection("apps:gone"))
				check(t, s.DeleteSelection("apps:never-stored"))
				check(t, s.PutLastPush("apps/prod", push))
				check(t, s.PutLastSuccess("apps/prod", at.Add(3*time.Minute)))
			},
			want: stateContents{
				Selections: map[string]state.SelectionRecord{"apps:podinfo": podinfo, "apps:nginx": nginx},
				Pushes:     map[string]state.PushRecord{"apps/prod": push},
				Successes:  map[string]time.Time{"apps/prod": at.Add(3 * time.Minute)},
			},
		},
		"a run in one write": {
			write: func(t *testing.T, s *state.Store) {
				check(t, s.PutRun("apps/prod", state.RunRecord{Push: &push, Written: map[string]state.WrittenRecord{"w": {Value: "app:1.0.1", At: at}}, Success: at.Add(3 * time.Minute)}))
				check(t, s.PutRun("apps/other", state.RunRecord{Success: at}))
				check(t, s.PutRun("apps/none", state.RunRecord{}))
			},
			want: stateContents{
				Selections: map[string]state.SelectionRecord{},
				Pushes:     map[string]state.PushRecord{"apps/prod": push},
				Successes:  map[string]time.Time{"apps/prod": at.Add(3 * time.Minute), "apps/other": at},
				Written:    map[string]state.WrittenRecord{"w": {Value: "app:1.0.1", At: at}},
			},
		},
		"a later write replaces": {
			write: func(t *testing.T, s *state.Store) {
				check(t, s.PutSelection("apps:podinfo", nginx))
				check(t, s.PutSelection("apps:podinfo", podinfo))
				check(t, s.PutLastPush("apps/prod", state.PushRecord{Commit: "old"}))
				check(t, s.PutLastPush("apps/prod", push))
			},
			want: stateContents{
				Selections: map[string]state.SelectionRecord{"apps:podinfo": podinfo},
				Pushes:     map[string]state.PushRecord{"apps/prod": push},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state", state.File)
			s := openState(t, path)
			tc.write(t, s)
			check(t, s.Close())

			s = openState(t, path)
			defer func() { check(t, s.Close()) }()
			tc.want.MissingSel, tc.want.MissingPush, tc.want.MissingSucc = true, true, true
			if tc.want.Pushes == nil {
				tc.want.Pushes = map[string]state.PushRecord{}
			}
			if tc.want.Successes == nil {
				tc.want.Successes = map[string]time.Time{}
			}
			if diff := cmp.Diff(tc.want, readState(t, s, "apps/prod", "apps/other", "apps/none")); diff != "" {
				t.Errorf("after reopening (-want +got):\n%s", diff)
			}
			got, ok, err := s.Selection("apps:podinfo")
			if want, wantOK := tc.want.Selections["apps:podinfo"]; err != nil || ok != wantOK || !cmp.Equal(want, got) {
				t.Errorf("Selection(apps:podinfo) = %+v, %v, %v; want %+v, %v", got, ok, err, want, wantOK)
			}
		})
	}
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenStateStoreSetsAsideBadFiles(t *testing.T) {
	tests := map[string]func(t *testing.T, path string){
		"garbage": func(t *testing.T, path string) {
			check(t, os.WriteFile(path, bytes.Repeat([]byte("not a database "), 1000), 0o600))
		},
		"truncated": func(t *testing.T, path string) {
			s := openState(t, path)
			check(t, s.PutSelection("apps:podinfo", state.SelectionRecord{Ref: "podinfo:1"}))
			check(t, s.Close())
			data, err := os.ReadFile(path)
			check(t, err)
			check(t, os.WriteFile(path, data[:100], 0o600))
		},
		"another program's bbolt file": func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			check(t, err)
			check(t, db.Update(func(tx *bolt.Tx) error {
				_, err := tx.CreateBucket([]byte("other"))
				return err
			}))
			check(t, db.Close())
		},
		"the registry cache": func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			check(t, err)
			check(t, db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucket([]byte("meta"))
				if err != nil {
					return err
				}
				return b.Put([]byte("schema"), []byte("hoist.dev/registry-cache/v1"))
			}))
			check(t, db.Close())
		},
	}
	for name, prepare := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, state.File)
			prepare(t, path)
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, nil))
			s, err := state.Open(path, logger)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { check(t, s.Close()) }()
			sels, err := s.Selections()
			check(t, err)
			if len(sels) != 0 {
				t.Errorf("a fresh store has selections: %v", sels)
			}
			check(t, s.PutSelection("apps:podinfo", state.SelectionRecord{Ref: "podinfo:2"}))
			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Errorf("set-aside files %v, want one", aside)
			}
			if !strings.Contains(logs.String(), `level=WARN msg="state store unreadable, set aside and started afresh"`) {
				t.Errorf("no warning logged:\n%s", logs.String())
			}
		})
	}
}

func TestStateStoreErrors(t *testing.T) {
	t.Parallel() // the lock test waits for bbolt's timeout
	dir := t.TempDir()
	path := filepath.Join(dir, state.File)
	s := openState(t, path)

	t.Run("locked by another holder", func(t *testing.T) {
		start := time.Now()
		_, err := state.Open(path, nil)
		if !errors.Is(err, state.ErrLocked) {
			t.Errorf("second open: %v, want ErrLocked", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("second open took %v", d)
		}
		if _, err := os.Stat(path); err != nil {
			t.Errorf("a locked file was moved: %v", err)
		}
	})

	check(t, s.Close())
	tests := map[string]func() error{
		"Selection":       func() error { _, _, err := s.Selection("a:b"); return err },
		"Selections":      func() error { _, err := s.Selections(); return err },
		"PutSelection":    func() error { return s.PutSelection("a:b", state.SelectionRecord{}) },
		"DeleteSelection": func() error { return s.DeleteSelection("a:b") },
		"LastPush":        func() error { _, _, err := s.LastPush("a/b"); return err },
		"PutLastPush":     func() error { return s.PutLastPush("a/b", state.PushRecord{}) },
		"LastSuccess":     func() error { _, _, err := s.LastSuccess("a/b"); return err },
		"PutLastSuccess":  func() error { return s.PutLastSuccess("a/b", time.Now()) },
		"PutRun":          func() error { return s.PutRun("a/b", state.RunRecord{Success: time.Now()}) },
	}
	for name, call := range tests {
		t.Run(name+" after Close", func(t *testing.T) {
			err := call()
			if !errors.Is(err, state.ErrClosed) || !strings.Contains(err.Error(), path) {
				t.Errorf("%s: %v, want ErrClosed naming %s", name, err, path)
			}
		})
	}

	t.Run("empty key", func(t *testing.T) {
		s := openState(t, filepath.Join(t.TempDir(), state.File))
		defer func() { check(t, s.Close()) }()
		if err := s.PutSelection("", state.SelectionRecord{}); err == nil {
			t.Error("PutSelection with an empty key: no error")
		}
	})
}

// TestConcurrentSelectionsAllStored writes selections from many goroutines
// at once (gathered into shared transactions) and finds every one after a
// restart.
func TestConcurrentSelectionsAllStored(t *testing.T) {
	path := filepath.Join(t.TempDir(), state.File)
	s := openState(t, path)
	at := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	want := map[string]state.SelectionRecord{}
	for i := range 64 {
		want[fmt.Sprintf("apps:app%d", i)] = state.SelectionRecord{Ref: fmt.Sprintf("ghcr.io/org/app:1.0.%d", i), Tag: fmt.Sprintf("1.0.%d", i), At: at}
	}
	var wg sync.WaitGroup
	for k, r := range want {
		wg.Go(func() {
			if err := s.PutSelection(k, r); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openState(t, path)
	defer func() { _ = s.Close() }()
	got, err := s.Selections()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("selections after a restart (-want +got):\n%s", diff)
	}
}
