package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/hoist-dev/hoist/internal/boltfile"
)

// File is the name of the state store's file in the state directory.
const File = "state.db"

// ErrLocked is returned (wrapped) by Open when another
// process holds the state file open.
var ErrLocked = errors.New("state file is locked by another process")

// ErrClosed is returned (wrapped) by the methods of a closed Store.
var ErrClosed = errors.New("state store is closed")

// stateSchema identifies a hoist state file; a bbolt file without it is
// foreign and set aside.
const stateSchema = "hoist.dev/state/v1"

// stateLockTimeout is how long Open waits for another process's
// lock before giving up.
const stateLockTimeout = 2 * time.Second

var (
	stateBucketSelections = []byte("selections")
	stateBucketPushes     = []byte("pushes")
	stateBucketSuccesses  = []byte("successes")
	stateBucketWritten    = []byte("written")
	stateBucketPulls      = []byte("pullrequests")
)

// WrittenRecord is the last value hoist wrote to one target in Git, for
// respectManualChanges: a value in Git that differs from it was changed by
// a person.
type WrittenRecord struct {
	Value string    `json:"value"`
	At    time.Time `json:"at"`
}

// PullRequestRecord is a pull request hoist opened: only those does hoist
// ever close.
type PullRequestRecord struct {
	// Head and Base are the branches it goes from and into.
	Head string `json:"head"`
	Base string `json:"base"`
	// Number is its number on the forge.
	Number int64     `json:"number"`
	URL    string    `json:"url,omitempty"`
	At     time.Time `json:"at"`
}

// SelectionRecord is the last selection of a policy.
type SelectionRecord struct {
	// Ref is what was written to Git: IMAGE:TAG or IMAGE:TAG@DIGEST.
	Ref    string `json:"ref"`
	Tag    string `json:"tag,omitempty"`
	Digest string `json:"digest,omitempty"`
	// At is when the selection was made.
	At time.Time `json:"at"`

	// Fingerprint identifies the documents the selection was made from
	// (automation.Fingerprint): after a restart the service takes the
	// record as the policy's selection only while it is the running
	// policy's. TagsSum is the hex SHA-256 of the tag list it was made
	// from, when it depended on that list alone, and Candidates and
	// Dropped are its counts: a rescan finding the same list answers with
	// them. Records written before hoist kept them have none, and are not
	// taken. Added to version 1 of the file: readers ignore fields they
	// do not know.
	Fingerprint string `json:"fingerprint,omitempty"`
	TagsSum     string `json:"tagsSum,omitempty"`
	Candidates  int    `json:"candidates,omitempty"`
	Dropped     int    `json:"dropped,omitempty"`
}

// PushRecord is the last commit an automation pushed.
type PushRecord struct {
	// Commit is the SHA of the commit.
	Commit string `json:"commit"`
	// Branch is the branch it was pushed to.
	Branch string    `json:"branch"`
	At     time.Time `json:"at"`
}

// Store keeps what the service must remember across restarts, in one
// bbolt file under the state directory: the last selection per policy, the
// last pushed commit per automation and the last successful run per
// automation. Keys are the caller's; the service uses Selection.Key()
// (NAMESPACE:NAME) for policies and NAMESPACE/NAME for automations. It is
// safe for concurrent use by one process; each write is synced to disk
// before it returns, but for the success time of a run that recorded
// nothing else (see PutRun).
type Store struct {
	db   *bolt.DB
	path string

	mu sync.Mutex
	// successes are the success times PutRun has not written yet, by
	// automation key; written is the success time that last wrote them.
	successes map[string]time.Time
	written   time.Time
}

// successDelay is how long after the last write of them the success times
// of runs that recorded nothing else wait in memory for company: a
// service's runs at rest, hundreds an interval, then cost one write a
// minute instead of one sync each. A crash forgets the times since that
// write (the next run writes them, so at most about one interval's); the
// ones before stay.
const successDelay = time.Minute

// Open opens or creates the state file at path (usually
// File in the state directory), creating its directory. A file that is
// not a hoist state file (corrupt, truncated, or another program's) is
// renamed to path+".corrupt-TIME" with a warning and a fresh store is
// created: the service then re-reads the selections and the commits from
// the registries and Git. A file locked by another process is an error
// (ErrLocked) after a short wait. A nil logger discards.
func Open(path string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	db, err := boltfile.Open(path, boltfile.Kind{
		What:        "state store",
		Schema:      stateSchema,
		Buckets:     [][]byte{stateBucketSelections, stateBucketPushes, stateBucketSuccesses, stateBucketWritten, stateBucketPulls},
		LockTimeout: stateLockTimeout,
	}, logger)
	if errors.Is(err, boltfile.ErrLocked) {
		return nil, fmt.Errorf("opening state store %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, err
	}
	db.MaxBatchDelay = selectionBatchDelay
	return &Store{db: db, path: path, successes: map[string]time.Time{}}, nil
}

// Path returns the file of the store.
func (s *Store) Path() string { return s.path }

// Close writes the success times PutRun kept back and closes the file.
// Later calls of other methods return ErrClosed.
func (s *Store) Close() error {
	flushErr := s.update("storing run successes", s.takeSuccesses())
	if errors.Is(flushErr, ErrClosed) {
		flushErr = nil // closed before
	}
	if err := errors.Join(flushErr, s.db.Close()); err != nil {
		return fmt.Errorf("closing state store %s: %w", s.path, err)
	}
	return nil
}

// Selection returns the last selection of the policy key; false when there
// is none.
func (s *Store) Selection(key string) (SelectionRecord, bool, error) {
	var r SelectionRecord
	ok, err := s.get("selection", stateBucketSelections, key, &r)
	return r, ok, err
}

// Selections returns every stored selection by policy key.
func (s *Store) Selections() (map[string]SelectionRecord, error) {
	out := map[string]SelectionRecord{}
	err := s.view("reading selections", func(tx *bolt.Tx) error {
		return tx.Bucket(stateBucketSelections).ForEach(func(k, v []byte) error {
			var r SelectionRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("selection %q: %w", k, err)
			}
			out[string(k)] = r
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PutSelection stores the last selection of the policy key. Concurrent
// calls (scans of several repositories at once) are gathered into one
// transaction and one sync (bbolt's Batch, waiting at most
// selectionBatchDelay for company); each returns once its record is on
// disk.
func (s *Store) PutSelection(key string, r SelectionRecord) error {
	return s.putSelections(txBatch, map[string]SelectionRecord{key: r})
}

// PutSelections stores several selections in one transaction and one
// sync of their own, and returns once they are on disk: the records of
// every scan that ended since the last write, as the service writes them,
// or those a controller restores.
func (s *Store) PutSelections(records map[string]SelectionRecord) error {
	return s.putSelections(txUpdate, records)
}

func (s *Store) putSelections(mode txMode, records map[string]SelectionRecord) error {
	return s.tx(mode, "storing selections", func(tx *bolt.Tx) error {
		b := tx.Bucket(stateBucketSelections)
		for k, r := range records {
			if err := putJSON(b, k, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteSelection forgets the selection of the policy key, as when the
// policy was removed. Forgetting a key that is not stored is not an error.
func (s *Store) DeleteSelection(key string) error {
	return s.update("deleting selection", func(tx *bolt.Tx) error {
		return tx.Bucket(stateBucketSelections).Delete([]byte(key))
	})
}

// LastPush returns the last commit pushed by the automation key; false when
// there is none.
func (s *Store) LastPush(key string) (PushRecord, bool, error) {
	var r PushRecord
	ok, err := s.get("last push", stateBucketPushes, key, &r)
	return r, ok, err
}

// PutLastPush stores the last commit pushed by the automation key.
func (s *Store) PutLastPush(key string, r PushRecord) error {
	return s.update("storing last push", func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(stateBucketPushes), key, r)
	})
}

// LastSuccess returns when the automation key last ran without error;
// false when it never did.
func (s *Store) LastSuccess(key string) (time.Time, bool, error) {
	s.mu.Lock()
	t, ok := s.successes[key]
	s.mu.Unlock()
	if ok {
		return t, true, nil
	}
	ok, err := s.get("last success", stateBucketSuccesses, key, &t)
	return t, ok, err
}

// PutLastSuccess stores when the automation key last ran without error.
func (s *Store) PutLastSuccess(key string, t time.Time) error {
	s.mu.Lock()
	delete(s.successes, key)
	s.mu.Unlock()
	return s.update("storing last success", func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(stateBucketSuccesses), key, t)
	})
}

// takeSuccesses takes the success times kept back, and returns the write
// of them within a transaction: when it fails, those not replaced since
// are kept back again.
func (s *Store) takeSuccesses() func(*bolt.Tx) error {
	s.mu.Lock()
	taken := s.successes
	s.successes = map[string]time.Time{}
	s.mu.Unlock()
	return func(tx *bolt.Tx) (err error) {
		defer func() {
			if err == nil {
				return
			}
			s.mu.Lock()
			for k, t := range taken {
				if _, newer := s.successes[k]; !newer {
					s.successes[k] = t
				}
			}
			s.mu.Unlock()
		}()
		b := tx.Bucket(stateBucketSuccesses)
		for k, t := range taken {
			if err := putJSON(b, k, t); err != nil {
				return err
			}
		}
		return nil
	}
}

// Written returns the last value hoist wrote to the target key; false when
// it wrote none.
func (s *Store) Written(key string) (WrittenRecord, bool, error) {
	var r WrittenRecord
	ok, err := s.get("written value", stateBucketWritten, key, &r)
	return r, ok, err
}

// PutWritten stores the values hoist wrote, by target key, in one
// transaction.
func (s *Store) PutWritten(records map[string]WrittenRecord) error {
	if len(records) == 0 {
		return nil
	}
	return s.update("storing written values", func(tx *bolt.Tx) error {
		b := tx.Bucket(stateBucketWritten)
		for k, r := range records {
			if err := putJSON(b, k, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// RunRecord is what one automation run records: its push (nil when it
// pushed nothing), the values it wrote (by target key), and when it
// succeeded (zero when it did not).
type RunRecord struct {
	Push    *PushRecord
	Written map[string]WrittenRecord
	Success time.Time
}

// PutRun stores what the run of the automation key records, in one
// transaction: one sync to disk instead of one for each of PutLastPush,
// PutWritten and PutLastSuccess.
//
// A run that records its success time alone (a run with nothing to do, as
// the service's at rest are) is kept in memory, where LastSuccess reads it,
// and written with the next run that records more, or with the next such
// run a minute (successDelay) after the last write of them, or by Close:
// one sync for many.
func (s *Store) PutRun(key string, r RunRecord) error {
	if r.Push == nil && len(r.Written) == 0 {
		if r.Success.IsZero() {
			return nil
		}
		s.mu.Lock()
		s.successes[key] = r.Success
		since := r.Success.Sub(s.written)
		due := since >= successDelay || since < 0 // < 0: the clock went back
		if due {
			s.written = r.Success
		}
		s.mu.Unlock()
		if !due {
			return nil
		}
		return s.update("storing run successes", s.takeSuccesses())
	}
	successes := s.takeSuccesses() // written first: r's own replaces its key's
	return s.update("storing the run", func(tx *bolt.Tx) error {
		if err := successes(tx); err != nil {
			return err
		}
		if r.Push != nil {
			if err := putJSON(tx.Bucket(stateBucketPushes), key, *r.Push); err != nil {
				return err
			}
		}
		b := tx.Bucket(stateBucketWritten)
		for k, w := range r.Written {
			if err := putJSON(b, k, w); err != nil {
				return err
			}
		}
		if !r.Success.IsZero() {
			return putJSON(tx.Bucket(stateBucketSuccesses), key, r.Success)
		}
		return nil
	})
}

// PullRequests returns the pull requests hoist opened for the automation
// key, by head branch.
func (s *Store) PullRequests(key string) (map[string]PullRequestRecord, error) {
	out := map[string]PullRequestRecord{}
	_, err := s.get("pull requests", stateBucketPulls, key, &out)
	return out, err
}

// PutPullRequests replaces the pull requests hoist opened for the
// automation key; an empty map forgets them all.
func (s *Store) PutPullRequests(key string, prs map[string]PullRequestRecord) error {
	return s.update("storing pull requests", func(tx *bolt.Tx) error {
		if len(prs) == 0 {
			return tx.Bucket(stateBucketPulls).Delete([]byte(key))
		}
		return putJSON(tx.Bucket(stateBucketPulls), key, prs)
	})
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	if key == "" {
		return errors.New("empty key")
	}
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("key %q: %w", key, err)
	}
	return b.Put([]byte(key), data)
}

func (s *Store) get(what string, bucket []byte, key string, v any) (found bool, err error) {
	err = s.view("reading "+what, func(tx *bolt.Tx) error {
		data := tx.Bucket(bucket).Get([]byte(key))
		if data == nil {
			return nil
		}
		found = true
		if err := json.Unmarshal(data, v); err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		return nil
	})
	return found && err == nil, err
}

func (s *Store) view(what string, fn func(*bolt.Tx) error) error {
	return s.tx(txView, what, fn)
}

func (s *Store) update(what string, fn func(*bolt.Tx) error) error {
	return s.tx(txUpdate, what, fn)
}

// txMode is how Store.tx runs a transaction.
type txMode int

const (
	txView   txMode = iota // read only
	txUpdate               // a write of its own, synced
	txBatch                // a write gathered with concurrent ones, synced; fn may run more than once
)

// selectionBatchDelay bounds how long a selection write waits for others
// to share its sync: short against a webhook's path to its commit, long
// enough to gather the scans that end together.
const selectionBatchDelay = 2 * time.Millisecond

// tx runs fn in a transaction; errors, and panics of bbolt on a damaged
// file, are returned naming the operation and the file.
func (s *Store) tx(mode txMode, what string, fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s in state store %s: damaged file: %v", what, s.path, r)
		}
	}()
	switch mode {
	case txBatch:
		err = s.db.Batch(fn)
	case txUpdate:
		err = s.db.Update(fn)
	default:
		err = s.db.View(fn)
	}
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		err = ErrClosed
	}
	if err != nil {
		return fmt.Errorf("%s in state store %s: %w", what, s.path, err)
	}
	return nil
}

// Path is where the state store lives under the state directory.
func Path(stateDir string) string { return filepath.Join(stateDir, File) }
