package registry

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
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
	// bucketTagSums holds, per repository, the sum of its cached tag list
	// and when that list was last confirmed by the registry: a rescan
	// that reads the same list writes 40 bytes at most once an hour
	// (confirmEvery) instead of the whole list.
	bucketTagSums = []byte("tagsums")
)

// confirmEvery is how often a repository whose tag list has not changed
// has its confirmation time written to the file; in between it is kept in
// memory, so a process that keeps running reports the exact time.
const confirmEvery = time.Hour

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

	mu   sync.Mutex
	seen map[string]tagsSeen // repository → its cached list's sum

	writes atomic.Int64 // write transactions, for tests
}

// tagsSeen is what the cache remembers in memory of a repository's stored
// tag list.
type tagsSeen struct {
	sum         [sha256.Size]byte
	confirmed   time.Time // the registry last answered this list
	persistedAt time.Time // the confirmation time the file holds
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
		Buckets:     [][]byte{bucketFacts, bucketTags, bucketTagDigests, bucketTagSums, bucketVerified},
		NoSync:      true,
		LockTimeout: cacheLockTimeout,
	}, logger)
	if errors.Is(err, boltfile.ErrLocked) {
		return nil, fmt.Errorf("opening registry cache %s: %w", path, ErrCacheLocked)
	}
	if err != nil {
		return nil, err
	}
	return &Cache{db: db, path: path, logger: logger, seen: map[string]tagsSeen{}}, nil
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
		c.writes.Add(1)
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
	var confirmed time.Time
	ok := c.op(false, "get tags", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTags).Get([]byte(repo))
		if b == nil {
			return errMiss
		}
		if _, at, ok := decodeTagSum(tx.Bucket(bucketTagSums).Get([]byte(repo))); ok {
			confirmed = at
		}
		return decodeTagsEntry(b, &e)
	})
	if !ok {
		return e, false
	}
	c.mu.Lock()
	if s, ok := c.seen[repo]; ok && s.confirmed.After(confirmed) {
		confirmed = s.confirmed
	}
	c.mu.Unlock()
	if confirmed.After(e.FetchedAt) {
		e.FetchedAt = confirmed
	}
	return e, true
}

// putTags stores a repository's tag list and forgets the digests of tags
// that are gone (sum is sumTags(e.Tags)). A list equal to the one stored
// is only confirmed: in memory, and in the file at most once every
// confirmEvery.
func (c *Cache) putTags(repo string, e tagsEntry, sum [sha256.Size]byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	s, known := c.seen[repo]
	c.mu.Unlock()
	if !known {
		// First time this process sees repo: what does the file hold?
		c.op(false, "get tag sum", func(tx *bolt.Tx) error {
			if got, at, ok := decodeTagSum(tx.Bucket(bucketTagSums).Get([]byte(repo))); ok && tx.Bucket(bucketTags).Get([]byte(repo)) != nil {
				s, known = tagsSeen{sum: got, confirmed: at, persistedAt: at}, true
			}
			return nil
		})
	}
	if known && s.sum == sum {
		c.confirm(repo, s, e.FetchedAt)
		return
	}
	data, err := encodeTagsEntry(e)
	if err != nil {
		return
	}
	if c.op(true, "put tags", func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketTags).Put([]byte(repo), data); err != nil {
			return err
		}
		if err := tx.Bucket(bucketTagSums).Put([]byte(repo), encodeTagSum(sum, e.FetchedAt)); err != nil {
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
	}) {
		c.remember(repo, tagsSeen{sum: sum, confirmed: e.FetchedAt, persistedAt: e.FetchedAt})
	}
}

// confirmTags records that the registry gave, at at, the list of repo
// whose sum is sum, when that is the list the cache holds (see putTags).
func (c *Cache) confirmTags(repo string, sum [sha256.Size]byte, at time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	s, known := c.seen[repo]
	c.mu.Unlock()
	if known && s.sum == sum {
		c.confirm(repo, s, at)
	}
}

// confirm marks s, what the cache holds of repo, as given again at at: in
// memory, and in the file at most once every confirmEvery.
func (c *Cache) confirm(repo string, s tagsSeen, at time.Time) {
	s.confirmed = at
	if at.Sub(s.persistedAt) >= confirmEvery {
		if c.op(true, "confirm tags", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketTagSums).Put([]byte(repo), encodeTagSum(s.sum, at))
		}) {
			s.persistedAt = at
		}
	}
	c.remember(repo, s)
}

func (c *Cache) remember(repo string, s tagsSeen) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[repo] = s
}

// sumTags is the SHA-256 of tags, each followed by a newline (a tag has
// none of its own).
func sumTags(tags []string) [sha256.Size]byte {
	h := sha256.New()
	for _, t := range tags {
		_, _ = h.Write([]byte(t))
		_, _ = h.Write([]byte{'\n'})
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// encodeTagSum and decodeTagSum are the tagsums bucket's value: the sum,
// then the confirmation time in Unix nanoseconds, big-endian.
func encodeTagSum(sum [sha256.Size]byte, at time.Time) []byte {
	v := make([]byte, sha256.Size+8)
	copy(v, sum[:])
	binary.BigEndian.PutUint64(v[sha256.Size:], uint64(at.UnixNano()))
	return v
}

func decodeTagSum(v []byte) (sum [sha256.Size]byte, at time.Time, ok bool) {
	if len(v) != sha256.Size+8 {
		return sum, at, false
	}
	copy(sum[:], v)
	return sum, time.Unix(0, int64(binary.BigEndian.Uint64(v[sha256.Size:]))).UTC(), true
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

// tagsDeflated starts a tags value that is its JSON compressed with
// DEFLATE (a JSON value never starts with this byte; values written
// before compression are plain JSON and still read). A list of 1,000
// semver tags takes 2.2 KB instead of 9.4 (TestTagsEntryEncoding): the
// file of 10,000 such lists, whose pages bbolt maps into memory, about 22
// MiB instead of 90.
const tagsDeflated = 0x01

var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed) // only an invalid level errs
	return w
}}

// encodeTagsEntry is the tags bucket's value of e.
func encodeTagsEntry(e tagsEntry) ([]byte, error) {
	plain, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(len(plain)/4 + 16)
	buf.WriteByte(tagsDeflated)
	w := deflaters.Get().(*flate.Writer)
	defer deflaters.Put(w)
	w.Reset(&buf)
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeTagsEntry reads a tags bucket's value, compressed or not.
func decodeTagsEntry(v []byte, e *tagsEntry) error {
	if len(v) == 0 || v[0] != tagsDeflated {
		return json.Unmarshal(v, e)
	}
	r := flate.NewReader(bytes.NewReader(v[1:]))
	defer func() { _ = r.Close() }()
	return json.NewDecoder(r).Decode(e)
}
