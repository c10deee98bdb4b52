package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hoist-dev/hoist/internal/boltfile"
)

// ErrCacheLocked is returned (wrapped) by OpenCache when another process
// holds the cache file open.
var ErrCacheLocked = errors.New("cache file is locked by another process")

// cacheSchema identifies a hoist registry cache; a bbolt file without it is
// foreign and set aside.
const cacheSchema = "hoist.dev/registry-cache/v1"

// cacheLockTimeout is how long OpenCache waits for another process's lock.
const cacheLockTimeout = 2 * time.Second

var (
	bucketFacts      = []byte("facts")
	bucketTags       = []byte("tags")
	bucketTagDigests = []byte("tagdigests")
	bucketVerified   = []byte("verified")
)

// Cache keeps, in one bbolt file, what a rescan need not ask again: facts
// (build time, platforms) of immutable digests, each repository's last good
// tag list with its fetch time, each tag's last known digest, and the
// digests whose signature a cosign key verified (see Client.Verify). It is safe
// for concurrent use by one process. A failure to read or write it is logged
// as a warning and treated as a miss: the cache never fails a scan.
//
// Writes are not synced one by one (the file is a cache, and a scan writes
// many small entries); Close syncs. A file left corrupt by a crash is set
// aside by the next OpenCache.
type Cache struct {
	db     *bolt.DB
	path   string
	logger *slog.Logger
	broken atomic.Bool
}

// OpenCache opens or creates the cache file at path, creating its directory.
// A file that is not a hoist cache (corrupt, truncated, or another program's)
// is renamed to path+".corrupt-TIME" with a warning and a fresh cache is
// created. A file locked by another process is an error (ErrCacheLocked)
// after a short wait. A nil logger discards.
func OpenCache(path string, logger *slog.Logger) (*Cache, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	db, err := boltfile.Open(path, boltfile.Kind{
		What:        "registry cache",
		Schema:      cacheSchema,
		Buckets:     [][]byte{bucketFacts, bucketTags, bucketTagDigests, bucketVerified},
		NoSync:      true,
		LockTimeout: cacheLockTimeout,
	}, logger)
	if errors.Is(err, boltfile.ErrLocked) {
		return nil, fmt.Errorf("opening registry cache %s: %w", path, ErrCacheLocked)
	}
	if err != nil {
		return nil, err
	}
	return &Cache{db: db, path: path, logger: logger}, nil
}

// Path returns the file of the cache.
func (c *Cache) Path() string { return c.path }

// Close syncs and closes the file.
func (c *Cache) Close() error {
	if c == nil {
		return nil
	}
	syncErr := c.db.Sync()
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("closing registry cache %s: %w", c.path, err)
	}
	if syncErr != nil {
		return fmt.Errorf("syncing registry cache %s: %w", c.path, syncErr)
	}
	return nil
}

// factsEntry is what the cache keeps per digest. Has* say which facts were
// looked for, since an image may have no build time at all.
type factsEntry struct {
	Created      time.Time `json:"created,omitzero"`
	HasCreated   bool      `json:"hasCreated,omitempty"`
	Platforms    []string  `json:"platforms,omitempty"`
	HasPlatforms bool      `json:"hasPlatforms,omitempty"`
}

type tagsEntry struct {
	FetchedAt time.Time `json:"fetchedAt"`
	Tags      []string  `json:"tags"`
}

type tagDigestEntry struct {
	Digest string    `json:"digest"`
	At     time.Time `json:"at"`
}

// op runs fn in a transaction, turning errors and panics into a logged
// warning; after a panic the cache is no longer used.
func (c *Cache) op(write bool, what string, fn func(*bolt.Tx) error) (ok bool) {
	if c == nil || c.broken.Load() {
		return false
	}
	defer func() {
		if r := recover(); r != nil {
			c.broken.Store(true)
			c.logger.Warn("registry cache damaged, no longer used until restart", "path", c.path, "op", what, "error", fmt.Sprint(r))
			ok = false
		}
	}()
	var err error
	if write {
		err = c.db.Update(fn)
	} else {
		err = c.db.View(fn)
	}
	if err != nil && !errors.Is(err, errMiss) {
		c.logger.Warn("registry cache", "path", c.path, "op", what, "error", err.Error())
	}
	return err == nil
}

var errMiss = errors.New("cache miss")

func (c *Cache) get(what string, bucket, key []byte, v any) bool {
	return c.op(false, what, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket).Get(key)
		if b == nil {
			return errMiss
		}
		return json.Unmarshal(b, v)
	})
}

func (c *Cache) put(what string, bucket, key []byte, v any) {
	if c == nil {
		return
	}
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	c.op(true, what, func(tx *bolt.Tx) error { return tx.Bucket(bucket).Put(key, data) })
}

func (c *Cache) facts(digest string) (factsEntry, bool) {
	var e factsEntry
	ok := c.get("get facts", bucketFacts, []byte(digest), &e)
	return e, ok
}

func (c *Cache) putFacts(digest string, e factsEntry) {
	c.put("put facts", bucketFacts, []byte(digest), e)
}

func (c *Cache) tags(repo string) (tagsEntry, bool) {
	var e tagsEntry
	ok := c.get("get tags", bucketTags, []byte(repo), &e)
	return e, ok
}

// putTags stores a repository's tag list and forgets the digests of tags
// that are gone.
func (c *Cache) putTags(repo string, e tagsEntry) {
	if c == nil {
		return
	}
	data, err := json.Marshal(e)
	if err != nil {
		return
	}
	c.op(true, "put tags", func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketTags).Put([]byte(repo), data); err != nil {
			return err
		}
		digests := tx.Bucket(bucketTagDigests).Bucket([]byte(repo))
		if digests == nil {
			return nil
		}
		keep := make(map[string]struct{}, len(e.Tags))
		for _, t := range e.Tags {
			keep[t] = struct{}{}
		}
		var gone [][]byte
		_ = digests.ForEach(func(k, _ []byte) error {
			if _, ok := keep[string(k)]; !ok {
				gone = append(gone, append([]byte(nil), k...))
			}
			return nil
		})
		for _, k := range gone {
			if err := digests.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

func (c *Cache) tagDigest(repo, tag string) (tagDigestEntry, bool) {
	var e tagDigestEntry
	ok := c.op(false, "get tag digest", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTagDigests).Bucket([]byte(repo))
		if b == nil {
			return errMiss
		}
		v := b.Get([]byte(tag))
		if v == nil {
			return errMiss
		}
		return json.Unmarshal(v, &e)
	})
	return e, ok
}

func (c *Cache) putTagDigest(repo, tag string, e tagDigestEntry) {
	if c == nil {
		return
	}
	data, err := json.Marshal(e)
	if err != nil {
		return
	}
	c.op(true, "put tag digest", func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketTagDigests).CreateBucketIfNotExists([]byte(repo))
		if err != nil {
			return err
		}
		return b.Put([]byte(tag), data)
	})
}
