package boltfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpen(t *testing.T) {
	kind := Kind{What: "test file", Schema: "hoist.dev/test/v1", Buckets: [][]byte{[]byte("a")}, LockTimeout: 100 * time.Millisecond}
	tests := map[string]struct {
		prepare   func(t *testing.T, path string)
		setAside  bool
		wantError error
	}{
		"new file": {prepare: func(*testing.T, string) {}},
		"garbage": {prepare: func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte(strings.Repeat("not bolt ", 1000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, setAside: true},
		"foreign bolt file": {prepare: func(t *testing.T, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("theirs")); return err }); err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}, setAside: true},
		"other schema": {prepare: func(t *testing.T, path string) {
			db, err := Open(path, Kind{What: "other", Schema: "hoist.dev/other/v1"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		}, setAside: true},
		"locked": {prepare: func(t *testing.T, path string) {
			db, err := Open(path, kind, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
		}, wantError: ErrLocked},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "sub", "f.db")
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			tc.prepare(t, path)
			db, err := Open(path, kind, nil)
			if tc.wantError != nil {
				if !errors.Is(err, tc.wantError) {
					t.Fatalf("err = %v, want %v", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = db.Close() }()
			if err := db.View(func(tx *bolt.Tx) error {
				if tx.Bucket([]byte("a")) == nil {
					return errors.New("bucket a missing")
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			matches, _ := filepath.Glob(path + ".corrupt-*")
			if got := len(matches) == 1; got != tc.setAside {
				t.Errorf("set aside: %v (%v), want %v", got, matches, tc.setAside)
			}
		})
	}
}
