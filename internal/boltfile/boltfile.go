// Package boltfile opens the bbolt files hoist keeps in its state
// directory (the registry cache, the service's state store) the same way:
// a schema marker tells hoist's files from others, a file that is damaged
// or foreign is set aside with a warning and replaced by a fresh one, and a
// file locked by another process is an error after a short wait instead of
// a hang.
package boltfile

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrLocked is returned (wrapped) when another process holds the file.
var ErrLocked = errors.New("file is locked by another process")

// Kind describes one kind of file.
type Kind struct {
	// What names the file in errors and warnings ("registry cache").
	What string
	// Schema is the marker stored in the meta bucket; a file with another
	// marker is not this kind's and is set aside.
	Schema string
	// Buckets are created when missing.
	Buckets [][]byte
	// NoSync skips fsync on commit (a cache that can be rebuilt).
	NoSync bool
	// LockTimeout bounds the wait for another process's lock. Default 2s.
	LockTimeout time.Duration
}

var (
	bucketMeta = []byte("meta")
	keySchema  = []byte("schema")
)

// Open opens or creates path as a file of kind k, creating its directory.
// A nil logger discards.
func Open(path string, k Kind, logger *slog.Logger) (*bolt.DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("opening %s: %w", k.What, err)
	}
	db, err := open(path, k)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("opening %s %s: %w", k.What, path, ErrLocked)
	}
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("opening %s: %w", k.What, err)
	}
	if err != nil {
		aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000Z")
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("opening %s %s: %w; setting it aside: %w", k.What, path, err, rerr)
		}
		logger.Warn(k.What+" unreadable, set aside and started afresh", "path", path, "moved_to", aside, "error", err.Error())
		db, err = open(path, k)
		if err != nil {
			return nil, fmt.Errorf("opening %s %s: %w", k.What, path, err)
		}
	}
	return db, nil
}

// open opens path and checks, or writes, the schema marker. Panics of bbolt
// on a damaged file become errors.
func open(path string, k Kind) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				_ = db.Close()
			}
			db, err = nil, fmt.Errorf("damaged %s file: %v", k.What, r)
		}
	}()
	timeout := k.LockTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoSync: k.NoSync})
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("not a hoist %s (no schema marker)", k.What)
			}
			meta, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			if err := meta.Put(keySchema, []byte(k.Schema)); err != nil {
				return err
			}
		} else if got := string(meta.Get(keySchema)); got != k.Schema {
			return fmt.Errorf("not a hoist %s (schema %q)", k.What, got)
		}
		for _, b := range k.Buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}
