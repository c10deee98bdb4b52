package service

import (
	"log/slog"
	"sync"

	"github.com/hoist-dev/hoist/automation/state"
)

// selectionWriter records the selections of scans in the state store
// behind the scans. While the service runs (start to stop), a scan hands
// its records over and goes on, and one goroutine writes every record
// handed over since its last write in one transaction and one sync:
// before, each first scan held one of the scheduler's lanes for its write
// and that write's sync, two thirds of the scan's time at start-up
// (BenchmarkStartup), so that the start of thousands of repositories went
// at the disk's pace instead of the registry's rate limit. When it is not
// running (before Run, after it), records are written as they come.
//
// What depends on a record waits for it or sees it: an automation's run
// first waits (wait) until the records handed over before it were written,
// so that a selection is in the store before a run writes it to Git (a
// restart resumes from the store what the runs wrote); lookups (get,
// overlay: the next scan of the policy, /status) see the records not yet
// written. A record whose write failed is logged and kept, and written
// with the next write: the next scan of its policy hands it over again,
// and stop writes what is left. A crash loses the records of the last
// write at most: the first scan after the restart records them again.
type selectionWriter struct {
	store *state.Store
	log   *slog.Logger
	// putAll writes records in one transaction: store.PutSelections
	// (tests wrap it to hold a write back or fail it).
	putAll func(map[string]state.SelectionRecord) error

	mu      sync.Mutex
	cond    sync.Cond // broadcast when a write ends
	running bool
	// pending are the records handed over and not yet taken by a write,
	// writing those of the write in progress, by policy key.
	pending, writing map[string]pendingRecord
	// handed counts the records handed over; written is the count that
	// the writes that ended had taken (written or failed).
	handed, written uint64
	// waiting counts the calls of wait that wait (for tests).
	waiting    int
	wake       chan struct{}
	quit, done chan struct{}
}

// pendingRecord is a record handed over, with what to call once it is in
// the store.
type pendingRecord struct {
	rec    state.SelectionRecord
	stored func()
}

func newSelectionWriter(store *state.Store, log *slog.Logger) *selectionWriter {
	w := &selectionWriter{store: store, log: log, pending: map[string]pendingRecord{}}
	if store != nil {
		w.putAll = store.PutSelections
	}
	w.cond.L = &w.mu
	return w
}

// start runs the writer until stop.
func (w *selectionWriter) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running || w.store == nil {
		return
	}
	w.running = true
	w.wake, w.quit, w.done = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	go w.loop(w.quit, w.done)
}

// stop writes the records still pending and ends the writer; later
// records are written as they come.
func (w *selectionWriter) stop() {
	w.mu.Lock()
	if !w.running {
		w.mu.Unlock()
		return
	}
	w.running = false
	quit, done := w.quit, w.done
	w.mu.Unlock()
	close(quit)
	<-done
}

func (w *selectionWriter) loop(quit, done chan struct{}) {
	defer close(done)
	for {
		select {
		case <-w.wake:
			w.writePending()
		case <-quit:
			if left := w.writePending(); left > 0 {
				w.log.Warn("selections not recorded at shutdown; their policies are scanned again after the restart", "selections", left)
			}
			return
		}
	}
}

// put hands over the record of the policy key; stored is called once the
// store holds it. A record of the same key not yet taken is replaced.
func (w *selectionWriter) put(key string, rec state.SelectionRecord, stored func()) {
	w.mu.Lock()
	if !w.running {
		w.mu.Unlock()
		if err := w.store.PutSelection(key, rec); err != nil {
			w.log.Warn("recording a selection", "policy", key, "error", err)
			return
		}
		stored()
		return
	}
	w.pending[key] = pendingRecord{rec: rec, stored: stored}
	w.handed++
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // a write is due already
	}
}

// writePending writes the pending records in one transaction and returns
// how many of them are pending again after a failure.
func (w *selectionWriter) writePending() int {
	w.mu.Lock()
	if len(w.pending) == 0 {
		w.written = w.handed
		w.cond.Broadcast()
		w.mu.Unlock()
		return 0
	}
	batch, upTo := w.pending, w.handed
	w.writing, w.pending = batch, make(map[string]pendingRecord, len(batch))
	w.mu.Unlock()

	recs := make(map[string]state.SelectionRecord, len(batch))
	for k, p := range batch {
		recs[k] = p.rec
	}
	err := w.putAll(recs)
	if err == nil {
		for _, p := range batch {
			p.stored()
		}
	} else {
		w.log.Warn("recording selections; they are written with the next ones", "selections", len(batch), "error", err)
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	w.writing = nil
	left := 0
	if err != nil {
		for k, p := range batch {
			if _, newer := w.pending[k]; !newer {
				w.pending[k] = p
				left++
			}
		}
	}
	w.written = upTo
	w.cond.Broadcast()
	return left
}

// wait returns once the records handed over before it were written (or
// their write failed).
func (w *selectionWriter) wait() {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for upTo := w.handed; w.running && w.written < upTo; {
		w.waiting++
		w.cond.Wait()
		w.waiting--
	}
}

// get returns the last record of the policy key: one handed over and not
// yet written (stored false), else the store's.
func (w *selectionWriter) get(key string) (rec state.SelectionRecord, found, stored bool, err error) {
	w.mu.Lock()
	p, ok := w.pending[key]
	if !ok {
		p, ok = w.writing[key]
	}
	w.mu.Unlock()
	if ok {
		return p.rec, true, false, nil
	}
	rec, found, err = w.store.Selection(key)
	return rec, found, true, err
}

// waits reports whether a record of the policy key waits to be
// written.
func (w *selectionWriter) waits(key string) bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, waiting := w.pending[key]
	if !waiting {
		_, waiting = w.writing[key]
	}
	return waiting
}

// overlay puts the records not yet written over recs (the store's).
func (w *selectionWriter) overlay(recs map[string]state.SelectionRecord) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range []map[string]pendingRecord{w.writing, w.pending} {
		for k, p := range m {
			recs[k] = p.rec
		}
	}
}
