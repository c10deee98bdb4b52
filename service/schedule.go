package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// ErrGraceExpired is returned (wrapped, naming the keys) by Scheduler.Run and
// Batcher.Run when runs were still in progress at the end of the grace
// period; their contexts are then cancelled and Run returns without waiting
// for them.
var ErrGraceExpired = errors.New("runs still in progress at the end of the grace period")

// ErrAlreadyRunning is returned by Run when it is called a second time.
var ErrAlreadyRunning = errors.New("already running")

// Clock is the time source of the Scheduler, the Batcher and the
// ConfigWatcher. SystemClock is the wall clock; tests inject a fake one so
// that no test waits on the wall clock.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that sends the time on C() once, after d.
	NewTimer(d time.Duration) Timer
	// AfterFunc calls f in its own goroutine after d. The returned timer's
	// C() is nil.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a one-shot timer made by a Clock.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports false when the timer
	// already fired or was stopped.
	Stop() bool
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer wraps time.NewTimer.
func (SystemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

// AfterFunc wraps time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer {
	return systemTimer{time.AfterFunc(d, f)}
}

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.t.C }
func (t systemTimer) Stop() bool          { return t.t.Stop() }

// Scheduler defaults, as documented on SchedulerOptions.
const (
	DefaultParallelism   = 4
	DefaultStartupSpread = 30 * time.Second
	DefaultJitter        = 0.1
	DefaultGrace         = 25 * time.Second
	DefaultCoalesce      = 5 * time.Second
)

// coalesceShare is the share of its interval by which a run may start
// early to share a wake-up (see SchedulerOptions.Coalesce), 1/60: small
// beside the random move each run's time already gets (DefaultJitter, up
// to a tenth of the interval).
const coalesceShare = 60

// Job is work the Scheduler runs under a key, such as the scan of one
// ImageRepository ("namespace/name") or the run of one automation.
type Job struct {
	// Key names the job; it is unique within a Scheduler.
	Key string
	// Interval is the time from the end of one run to the start of the next.
	// Zero means the job runs only when triggered.
	Interval time.Duration
	// Group names the jobs that share the Scheduler's Parallelism, such as
	// the scans of one registry host: a slow group fills its own slots, not
	// those of the others. Jobs of the same Group ("" included) share one
	// bound. Update may move a job to another group; a run in progress
	// counts in the group it started in.
	Group string
	// Run does the work. Its error is logged by the Scheduler (with the
	// key); a job that reports its own errors returns nil. A panic is
	// recovered and logged. ctx is cancelled only when the grace period of a
	// shutdown ends.
	Run func(ctx context.Context) error
}

// SchedulerOptions configures a Scheduler. The zero value gives the defaults.
type SchedulerOptions struct {
	// Clock is the time source. Default: SystemClock.
	Clock Clock
	// Logger receives failed runs. Default: discard.
	Logger *slog.Logger
	// Parallelism bounds runs in progress at once per group of jobs
	// (Job.Group); a job waiting for a slot of a full group does not hold
	// up the jobs of other groups behind it. There is no bound over all
	// groups: a group is a registry host or a kind of job, few per
	// configuration, and a bound over them would let slow groups hold up
	// the others again. Default: DefaultParallelism (4).
	Parallelism int
	// StartupSpread spreads first runs so that they do not all start at
	// once: a job's first run comes at an offset within
	// min(Interval, StartupSpread) after Run starts (or after Update adds
	// it), fixed by a hash of its key. Default: DefaultStartupSpread (30s);
	// negative: every first run at once.
	StartupSpread time.Duration
	// Jitter moves each later run earlier or later at random by up to this
	// fraction of the interval. Default: DefaultJitter (0.1); negative: none.
	Jitter float64
	// Grace is how long Run waits, after its context is done, for runs in
	// progress to return. Default: DefaultGrace (25s).
	Grace time.Duration
	// Coalesce lets runs due close together start in one wake-up of the
	// Scheduler: when it wakes for a run, it also starts, in the order
	// they are due, the next runs due within their job's slack,
	// min(1/60 of the job's interval, Coalesce), so that a run may start
	// up to that much before it is due (never after). 10,000 jobs at
	// 5-minute intervals then wake the Scheduler every 5 seconds for about
	// 170 runs instead of 33 times a second: between wake-ups the process
	// sleeps, and each wake-up costs more than its runs' own work at that
	// pace (see BenchmarkSchedulerIdleScans). Default: DefaultCoalesce
	// (5s); negative: every run at its own time.
	Coalesce time.Duration
}

func (o *SchedulerOptions) setDefaults() {
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Parallelism <= 0 {
		o.Parallelism = DefaultParallelism
	}
	if o.StartupSpread == 0 {
		o.StartupSpread = DefaultStartupSpread
	}
	if o.Jitter == 0 {
		o.Jitter = DefaultJitter
	}
	if o.Jitter > 1 {
		o.Jitter = 1
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Coalesce == 0 {
		o.Coalesce = DefaultCoalesce
	}
}

// Scheduler runs keyed jobs on their intervals and on demand. Per key at
// most one run is in progress; a trigger or due interval that arrives during
// a run is folded into one re-run after it. At most Parallelism runs are in
// progress at once per group (Job.Group); jobs waiting for a slot start in
// the order they became due (triggered ones first), skipping those whose
// group is full. It is safe for concurrent use.
//
// One timer serves every job: the due runs are kept in a heap, and the
// timer is set for the earliest (see SchedulerOptions.Coalesce), so that
// thousands of jobs cost one runtime timer, not one each.
type Scheduler struct {
	mu      sync.Mutex
	o       SchedulerOptions
	lanes   lanes
	jobs    map[string]*schedEntry
	due     dueHeap // the armed entries, earliest first
	seq     uint64  // orders entries due at the same time by arming
	timer   Timer   // set for timerAt; nil when none
	timerAt time.Time
	gen     uint64 // invalidates callbacks of stopped timers
	started bool
	stopped bool
}

type schedEntry struct {
	job     Job
	next    time.Time // when the next interval run is due; zero when not armed
	index   int       // in Scheduler.due; -1 when not armed
	seq     uint64    // of the arming, for ties of next
	added   time.Time // when the job was added (or Run started)
	lastEnd time.Time // end of the last run; zero before
}

func (e *schedEntry) armed() bool { return e.index >= 0 }

// dueHeap is a min-heap of the armed entries by due time, then arming
// order. Each item holds its entry's keys, so that comparisons read the
// heap's own array rather than entries scattered over the heap: at 10,000
// jobs, the pops of a wake-up's runs through pointers were 4% of the
// service's CPU at rest.
type dueHeap []dueItem

type dueItem struct {
	next time.Time
	seq  uint64
	e    *schedEntry
}

func (h dueHeap) less(i, j int) bool {
	if h[i].next.Equal(h[j].next) {
		return h[i].seq < h[j].seq
	}
	return h[i].next.Before(h[j].next)
}

func (h dueHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].e.index, h[j].e.index = i, j
}

func (h dueHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

// down moves item i down among the first n; it reports whether it moved.
func (h dueHeap) down(i, n int) bool {
	i0 := i
	for {
		j := 2*i + 1
		if j >= n || j < 0 {
			break
		}
		if j2 := j + 1; j2 < n && h.less(j2, j) {
			j = j2
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// push arms e at e.next, e.seq.
func (h *dueHeap) push(e *schedEntry) {
	e.index = len(*h)
	*h = append(*h, dueItem{e.next, e.seq, e})
	h.up(e.index)
}

// fix moves e, armed, to its new e.next, e.seq.
func (h dueHeap) fix(e *schedEntry) {
	i := e.index
	h[i].next, h[i].seq = e.next, e.seq
	if !h.down(i, len(h)) {
		h.up(i)
	}
}

// remove disarms the entry at i and returns it.
func (h *dueHeap) remove(i int) *schedEntry {
	n := len(*h) - 1
	if n != i {
		h.swap(i, n)
		if !h.down(i, n) {
			h.up(i)
		}
	}
	e := (*h)[n].e
	(*h)[n] = dueItem{}
	*h = (*h)[:n]
	e.index = -1
	return e
}

// NewScheduler returns a Scheduler without jobs; give it jobs with Update
// and start it with Run.
func NewScheduler(o SchedulerOptions) *Scheduler {
	o.setDefaults()
	s := &Scheduler{o: o, jobs: map[string]*schedEntry{}}
	s.lanes.init(&s.mu, o.Parallelism, o.Logger, "scheduled run", s.group, s.begin, s.end)
	return s
}

// Update replaces the set of jobs, as when the configuration is reloaded.
// A job whose key and interval are unchanged keeps its timer (only its Run
// is replaced); a changed interval takes effect from the job's last run; a
// new key gets a spread first run; a removed key gets no further runs (a run
// in progress finishes); a changed Group applies to the job's next run (one
// waiting for a slot moves to its new group). An invalid list (empty or repeated key, nil Run,
// negative interval) is an error and changes nothing.
func (s *Scheduler) Update(jobs []Job) error {
	seen := make(map[string]bool, len(jobs))
	for i, j := range jobs {
		switch {
		case j.Key == "":
			return fmt.Errorf("scheduler: job %d has an empty key", i)
		case seen[j.Key]:
			return fmt.Errorf("scheduler: job %q is listed twice", j.Key)
		case j.Run == nil:
			return fmt.Errorf("scheduler: job %q has no Run", j.Key)
		case j.Interval < 0:
			return fmt.Errorf("scheduler: job %q has a negative interval %v", j.Key, j.Interval)
		}
		seen[j.Key] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	regrouped := false
	defer func() {
		if regrouped {
			s.lanes.dispatchLocked() // a new group may have a free slot
		}
	}()
	now := s.o.Clock.Now()
	for key, e := range s.jobs {
		if !seen[key] {
			s.disarmLocked(e)
			delete(s.jobs, key)
		}
	}
	for _, j := range jobs {
		e, ok := s.jobs[j.Key]
		if !ok {
			e = &schedEntry{job: j, added: now, index: -1}
			s.jobs[j.Key] = e
			if s.started && !s.stopped && j.Interval > 0 {
				s.armLocked(e, s.firstOffset(j))
			}
			continue
		}
		old, oldGroup := e.job.Interval, e.job.Group
		e.job = j
		if j.Group != oldGroup {
			s.lanes.regroupLocked(j.Key)
			regrouped = true
		}
		if old == j.Interval || !s.started || s.stopped || s.lanes.busyLocked(j.Key) {
			continue // a run in progress or waiting arms the timer when it ends
		}
		switch {
		case j.Interval == 0:
			s.disarmLocked(e)
		case e.lastEnd.IsZero() && !e.armed():
			s.armLocked(e, s.firstOffset(j))
		default:
			base := e.lastEnd
			if base.IsZero() {
				base = e.added
			}
			next := base.Add(j.Interval)
			if e.armed() && e.next.Before(next) {
				next = e.next
			}
			s.armLocked(e, next.Sub(now))
		}
	}
	return nil
}

// Trigger asks for a run of key now, as a webhook does. It reports false
// when there is no such job or the Scheduler has stopped. A trigger during a
// run is folded into one re-run after it; a trigger before Run is kept until
// Run starts.
func (s *Scheduler) Trigger(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || s.jobs[key] == nil {
		return false
	}
	s.lanes.requestLocked(key, true)
	return true
}

// Next returns when the next interval run of key is due. It reports false
// when none is scheduled: unknown key, a job without interval, a job that is
// running or waiting for a slot, or a Scheduler not running.
func (s *Scheduler) Next(key string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.jobs[key]
	if e == nil || !e.armed() {
		return time.Time{}, false
	}
	return e.next, true
}

// Run starts the timers and runs jobs until ctx is done. Then it stops
// taking work (timers, triggers and re-runs waiting are dropped) and waits
// up to the grace period for runs in progress. It returns nil after a clean
// shutdown, or an error wrapping ErrGraceExpired.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return fmt.Errorf("scheduler: %w", ErrAlreadyRunning)
	}
	s.started = true
	now := s.o.Clock.Now()
	for _, e := range s.jobs {
		e.added = now
		if e.job.Interval > 0 && !s.lanes.busyLocked(e.job.Key) {
			s.armLocked(e, s.firstOffset(e.job))
		}
	}
	s.lanes.openLocked(ctx)
	s.mu.Unlock()

	<-ctx.Done()

	s.mu.Lock()
	s.stopped = true
	for _, it := range s.due {
		it.e.index, it.e.next = -1, time.Time{}
	}
	s.due = nil
	s.stopTimerLocked()
	s.mu.Unlock()
	if err := s.lanes.shutdown(s.o.Clock, s.o.Grace); err != nil {
		return fmt.Errorf("scheduler: %w", err)
	}
	return nil
}

// firstOffset is when a job first runs: a hash of its key spread over
// min(interval, StartupSpread), the same on every start.
func (s *Scheduler) firstOffset(j Job) time.Duration {
	spread := min(j.Interval, s.o.StartupSpread)
	if spread <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(j.Key))
	return time.Duration(h.Sum64() % uint64(spread))
}

// jittered is interval moved by up to ±Jitter of itself.
func (s *Scheduler) jittered(interval time.Duration) time.Duration {
	if s.o.Jitter <= 0 {
		return interval
	}
	d := time.Duration(float64(interval) * (1 + s.o.Jitter*(2*rand.Float64()-1)))
	return max(d, time.Millisecond)
}

// armLocked makes e's next interval run due in d.
func (s *Scheduler) armLocked(e *schedEntry, d time.Duration) {
	now := s.o.Clock.Now()
	e.next = now.Add(max(d, 0))
	s.seq++
	e.seq = s.seq
	if e.armed() {
		s.due.fix(e)
	} else {
		s.due.push(e)
	}
	s.setTimerLocked(now)
}

// disarmLocked drops e's next interval run. The timer stays: when it
// fires for nothing, it is set again for the next due run.
func (s *Scheduler) disarmLocked(e *schedEntry) {
	if e.armed() {
		s.due.remove(e.index)
	}
	e.next = time.Time{}
}

// setTimerLocked sets the timer for the earliest due run, unless it
// fires before that already.
func (s *Scheduler) setTimerLocked(now time.Time) {
	if len(s.due) == 0 {
		s.stopTimerLocked()
		return
	}
	at := s.due[0].next
	if s.timer != nil && !s.timerAt.After(at) {
		return
	}
	s.stopTimerLocked()
	g := s.gen
	s.timer, s.timerAt = s.o.Clock.AfterFunc(at.Sub(now), func() { s.wake(g) }), at
}

func (s *Scheduler) stopTimerLocked() {
	s.gen++
	if s.timer != nil {
		s.timer.Stop()
		s.timer, s.timerAt = nil, time.Time{}
	}
}

// slack is how early a run of e may start to share a wake-up.
func (s *Scheduler) slack(e *schedEntry) time.Duration {
	if s.o.Coalesce < 0 {
		return 0
	}
	return min(e.job.Interval/coalesceShare, s.o.Coalesce)
}

// wake starts the runs due now, and those due soon enough to join them
// (see SchedulerOptions.Coalesce), in the order they are due; then it sets
// the timer for the next. It stops at the first run not within its slack:
// one due later with a longer slack waits for its own wake-up (never late
// for that), so that a wake-up costs the runs it starts, not a look at
// every run due within a second.
func (s *Scheduler) wake(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || s.gen != gen {
		return // stopped, or the timer was replaced since
	}
	s.timer, s.timerAt = nil, time.Time{}
	now := s.o.Clock.Now()
	for len(s.due) > 0 && !s.due[0].next.After(now.Add(s.slack(s.due[0].e))) {
		e := s.due.remove(0)
		e.next = time.Time{}
		s.lanes.requestLocked(e.job.Key, false)
	}
	s.setTimerLocked(now)
}

// group is called by lanes, locked: the group of key's job.
func (s *Scheduler) group(key string) string {
	if e := s.jobs[key]; e != nil {
		return e.job.Group
	}
	return ""
}

// begin is called by lanes, locked, when a run of key starts.
func (s *Scheduler) begin(key string) (func(context.Context), bool) {
	e := s.jobs[key]
	if e == nil {
		return nil, false // removed while waiting
	}
	s.disarmLocked(e) // this run replaces the interval run due next
	run, logger := e.job.Run, s.o.Logger
	return func(ctx context.Context) {
		if err := run(ctx); err != nil {
			logger.LogAttrs(ctx, slog.LevelError, "scheduled run failed", slog.String("key", key), slog.String("error", err.Error()))
		}
	}, true
}

// end is called by lanes, locked, when a run of key has returned.
func (s *Scheduler) end(key string) {
	e := s.jobs[key]
	if e == nil || s.stopped {
		return
	}
	e.lastEnd = s.o.Clock.Now()
	if e.job.Interval > 0 {
		s.armLocked(e, s.jittered(e.job.Interval))
	}
}

// lanes runs work per key for the Scheduler and the Batcher: at most one
// run per key at a time, with at most one re-run folded in, at most limit
// runs at once per group of keys (group; nil: one group), waiting keys
// started first in first out, the urgent ones first. A key whose group is
// full waits without holding up the keys of other groups behind it. Its
// owner's mutex guards it; methods named *Locked need it held, and group,
// begin and end are called with it held.
type lanes struct {
	mu     *sync.Mutex
	limit  int
	logger *slog.Logger
	what   string // "scheduled run", for logs
	// group names the group of key, whose runs limit bounds; nil: one
	// group.
	group func(key string) string
	// begin returns the work of a run of key, or false to skip it.
	begin func(key string) (func(context.Context), bool)
	// end is called after the work of begin returned.
	end func(key string)

	ctx     context.Context // of runs; set by openLocked
	cancel  context.CancelFunc
	open    bool
	closed  bool
	active  map[string]string // key → the group it runs in
	pending map[string]bool   // re-run asked during a run: urgent or not
	// queued holds the keys waiting for a slot, each with its group and
	// the order of its place: urgent keys go before the others, and within
	// each part the smaller order first.
	queued map[string]queuedKey
	seq    uint64
	groups map[string]*laneGroup // the groups running or waiting
	idle   chan struct{}         // closed when closed and no run is active
	// goroutineEach starts a goroutine for every run (for a benchmark's
	// comparison, see export_test.go).
	goroutineEach bool
}

type queuedKey struct {
	group string
	seq   uint64
}

// laneGroup is one group of lanes.
type laneGroup struct {
	running int
	// queue holds the group's keys waiting for a slot: the urgent ones
	// first (urgent of them), each part in the order asked.
	queue  []string
	urgent int
}

func (l *lanes) init(mu *sync.Mutex, limit int, logger *slog.Logger, what string, group func(string) string, begin func(string) (func(context.Context), bool), end func(string)) {
	l.mu, l.limit, l.logger, l.what, l.group, l.begin, l.end = mu, limit, logger, what, group, begin, end
	l.active, l.pending, l.queued, l.groups = map[string]string{}, map[string]bool{}, map[string]queuedKey{}, map[string]*laneGroup{}
}

// openLocked starts running; runs get a context that keeps ctx's values but
// is cancelled only by shutdown.
func (l *lanes) openLocked(ctx context.Context) {
	l.ctx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))
	l.open = ctx.Err() == nil // a Run already cancelled starts nothing
	l.dispatchLocked()
}

// busyLocked reports whether key is running or waiting for a slot.
func (l *lanes) busyLocked(key string) bool {
	if _, ok := l.active[key]; ok {
		return true
	}
	_, ok := l.queued[key]
	return ok
}

func (l *lanes) groupOf(key string) string {
	if l.group == nil {
		return ""
	}
	return l.group(key)
}

// groupLocked returns the group name, made if need be.
func (l *lanes) groupLocked(name string) *laneGroup {
	g := l.groups[name]
	if g == nil {
		g = &laneGroup{}
		l.groups[name] = g
	}
	return g
}

// dropIdleLocked forgets group name when nothing runs or waits in it, so
// that groups gone from the configuration cost nothing.
func (l *lanes) dropIdleLocked(name string, g *laneGroup) {
	if g.running == 0 && len(g.queue) == 0 {
		delete(l.groups, name)
	}
}

// requestLocked asks for a run of key. An urgent run (a trigger: a
// webhook, news for an automation) goes before the runs waiting that are
// not (interval runs: at 10,000 repositories, a wake-up of the Scheduler
// queues dozens of them, and a webhook's scan must not wait behind them).
func (l *lanes) requestLocked(key string, urgent bool) {
	if l.queueLocked(key, urgent) {
		l.dispatchLocked()
	}
}

// queueLocked is requestLocked without starting anything: it reports
// whether key joined the keys waiting for a slot.
func (l *lanes) queueLocked(key string, urgent bool) bool {
	if l.closed {
		return false
	}
	if _, ok := l.active[key]; ok {
		l.pending[key] = l.pending[key] || urgent
		return false
	}
	if q, ok := l.queued[key]; ok {
		if urgent {
			g := l.groupLocked(q.group)
			if i := slices.Index(g.queue, key); i >= g.urgent {
				l.seq++
				l.queued[key] = queuedKey{q.group, l.seq}
				g.queue = slices.Insert(slices.Delete(g.queue, i, i+1), g.urgent, key)
				g.urgent++
			}
		}
		return false
	}
	name := l.groupOf(key)
	l.seq++
	l.queued[key] = queuedKey{name, l.seq}
	g := l.groupLocked(name)
	if urgent {
		g.queue = slices.Insert(g.queue, g.urgent, key)
		g.urgent++
	} else {
		g.queue = append(g.queue, key)
	}
	return true
}

// regroupLocked moves key, when it waits for a slot, to the group it has
// now, at the place its order gives it there: for a job whose group
// changed (a reload moved a repository to another registry).
func (l *lanes) regroupLocked(key string) {
	q, ok := l.queued[key]
	if !ok {
		return
	}
	from, to := q.group, l.groupOf(key)
	if to == from {
		return
	}
	l.queued[key] = queuedKey{to, q.seq}
	old := l.groups[from]
	if old == nil {
		return
	}
	i := slices.Index(old.queue, key)
	if i < 0 {
		return
	}
	urgent := i < old.urgent
	old.queue = slices.Delete(old.queue, i, i+1)
	if urgent {
		old.urgent--
	}
	l.dropIdleLocked(from, old)
	g := l.groupLocked(to)
	lo, hi := 0, g.urgent
	if !urgent {
		lo, hi = g.urgent, len(g.queue)
	}
	j, _ := slices.BinarySearchFunc(g.queue[lo:hi], q.seq, func(k string, seq uint64) int { return cmp.Compare(l.queued[k].seq, seq) })
	g.queue = slices.Insert(g.queue, lo+j, key)
	if urgent {
		g.urgent++
	}
}

// nextLocked returns the group whose first waiting key starts next: of
// the groups with a free slot, the one whose first key is urgent, or
// waits longest when none or all are.
func (l *lanes) nextLocked() (string, *laneGroup) {
	var (
		best     *laneGroup
		bestName string
		bestSeq  uint64
		bestUrg  bool
	)
	for name, g := range l.groups {
		if g.running >= l.limit || len(g.queue) == 0 {
			continue
		}
		urg, seq := g.urgent > 0, l.queued[g.queue[0]].seq
		if best == nil || urg && !bestUrg || urg == bestUrg && seq < bestSeq {
			best, bestName, bestSeq, bestUrg = g, name, seq, urg
		}
	}
	return bestName, best
}

// dispatchLocked starts a goroutine for each waiting key that may start.
func (l *lanes) dispatchLocked() {
	for {
		key, work, ok := l.takeLocked()
		if !ok {
			return
		}
		go l.run(key, work)
	}
}

// takeLocked takes the waiting key that starts next (see nextLocked), whose
// run begin allows, and counts it running: false when none may start.
func (l *lanes) takeLocked() (string, func(context.Context), bool) {
	for l.open && !l.closed {
		name, g := l.nextLocked()
		if g == nil {
			break
		}
		key := g.queue[0]
		g.queue = g.queue[1:]
		g.urgent = max(g.urgent-1, 0)
		delete(l.queued, key)
		work, ok := l.begin(key)
		if !ok {
			l.dropIdleLocked(name, g)
			continue
		}
		g.running++
		l.active[key] = name
		return key, work, true
	}
	return "", nil, false
}

// run runs the work of key, then, as long as keys wait that may start, the
// next of them: one goroutine serves a lane through a wake-up's runs instead
// of one goroutine a run, each growing its stack anew through the same deep
// calls (an HTTP client's, a Git fetch's): at 10,000 repositories that
// growth was 6% of the service's CPU at rest.
func (l *lanes) run(key string, work func(context.Context)) {
	for {
		l.work(key, work)
		l.mu.Lock()
		l.endLocked(key)
		var (
			next     string
			nextWork func(context.Context)
			ok       bool
		)
		if !l.goroutineEach {
			next, nextWork, ok = l.takeLocked()
		}
		l.dispatchLocked() // any more that may start: seldom, one slot freed
		if !ok {
			if l.closed && len(l.active) == 0 {
				close(l.idle)
			}
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		key, work = next, nextWork
	}
}

// work calls work, recovering and logging a panic.
func (l *lanes) work(key string, work func(context.Context)) {
	defer func() {
		if r := recover(); r != nil {
			l.logger.LogAttrs(l.ctx, slog.LevelError, l.what+" panicked", slog.String("key", key), slog.String("panic", fmt.Sprint(r)))
		}
	}()
	work(l.ctx)
}

// endLocked counts the run of key ended, and queues its re-run when one
// was asked during it.
func (l *lanes) endLocked(key string) {
	name := l.active[key]
	delete(l.active, key)
	if g := l.groups[name]; g != nil {
		g.running--
		l.dropIdleLocked(name, g)
	}
	l.end(key)
	if urgent, ok := l.pending[key]; ok {
		delete(l.pending, key)
		l.queueLocked(key, urgent)
	}
}

// shutdown stops starting runs and waits up to grace for those in
// progress; then it cancels their context.
func (l *lanes) shutdown(clock Clock, grace time.Duration) error {
	l.mu.Lock()
	l.closed = true
	for name, g := range l.groups {
		g.queue, g.urgent = nil, 0
		l.dropIdleLocked(name, g)
	}
	clear(l.queued)
	clear(l.pending)
	l.idle = make(chan struct{})
	if len(l.active) == 0 {
		close(l.idle)
	}
	idle := l.idle
	l.mu.Unlock()
	defer l.cancel()

	t := clock.NewTimer(grace)
	defer t.Stop()
	select {
	case <-idle:
		return nil
	case <-t.C():
	}
	l.mu.Lock()
	keys := make([]string, 0, len(l.active))
	for k := range l.active {
		keys = append(keys, k)
	}
	l.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	return fmt.Errorf("%w (%v): %q", ErrGraceExpired, grace, keys)
}
