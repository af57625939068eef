package lockcore

import (
	"cmp"
	"context"
	"sync"
	"time"
)

// RenewerConfig configures a Renewer. The zero value is ready to use.
type RenewerConfig struct {
	// Timeout bounds one renewal round trip. Zero means a third of the
	// shortest TTL among the leases it renews, so that a stuck round trip
	// still leaves time for another attempt before the leases expire. A
	// round trip never outlasts the last local deadline of its leases: a
	// reply after that is of no use. For the bound to hold when Redis
	// hangs, the go-redis client needs ContextTimeoutEnabled.
	Timeout time.Duration
	// MaxInFlight bounds the renewal round trips in flight at once, per
	// store. Leases due while a round trip is in flight go in another, so
	// that a round trip that hangs (a stuck connection, a hung cluster
	// node) does not hold up the renewal of the others; a lease is never
	// in two at once. Defaults to MaxInFlightDefault (4).
	MaxInFlight int
	// OnError, when set, is called with the error of each renewal round
	// trip that failed (a *StoreError). Leases are kept until their local
	// deadline; renewal is retried meanwhile. It may be called from
	// several goroutines at once and must not block. Defaults to ignoring
	// the error.
	OnError func(error)
}

// MaxInFlightDefault is the default of RenewerConfig.MaxInFlight.
const MaxInFlightDefault = 4

// Renewer keeps leases alive for as long as their work runs: one loop per
// process renews every tracked lease (locks and in-flight markers alike) at
// about a third of its TTL, sending all leases that are due in one pipeline
// per store, rather than running a goroutine per lease.
//
// Leases due within a sixth of their TTL of each other are renewed together
// so that a busy worker sends few round trips. Each round trip runs in its
// own goroutine, up to MaxInFlight per store, so that one that hangs does
// not delay the others. A round trip that fails or times out marks nothing
// lost: the lease is retried, a ninth of its TTL after the failed attempt
// was sent (at once after a timeout), until its local deadline, the time
// of the request of its last successful renewal plus its TTL, less a drift
// allowance. When a renewal finds a lease gone or owned by another, or the
// lease's local deadline passes before a renewal succeeds, the lease is
// lost: its Lost channel closes and the callback given to Track runs with
// a *LostError, which matches ErrLockLost.
//
// Start starts the loop and Shutdown stops it; Shutdown releases nothing.
type Renewer struct {
	cfg RenewerConfig

	mu      sync.Mutex
	entries map[*Lease]renewEntry // by value: no allocation per lease
	// busy holds the leases in a renewal round trip, and calls counts the
	// round trips in flight per store.
	busy  map[*Lease]struct{}
	calls map[Store]int
	// wakeAt is when the loop looks at its schedule again, set by due
	// together with the schedule it read, so that Track wakes the loop
	// only for a lease due before: a lease Track adds later than due's
	// scan is due after wakeAt, or pokes.
	wakeAt time.Time

	wake chan struct{}
	// quit and stopped belong to the running loop; nil while none runs.
	quit    chan struct{}
	stopped chan struct{}
}

type renewEntry struct {
	next  time.Time // when the next renewal is due
	refs  int       // Track calls holding the lease
	retry bool      // the last renewal failed
}

// NewRenewer returns a Renewer; call Start to run it.
func NewRenewer(cfg RenewerConfig) *Renewer {
	cfg.MaxInFlight = cmp.Or(cfg.MaxInFlight, MaxInFlightDefault)
	return &Renewer{
		cfg:     cfg,
		entries: make(map[*Lease]renewEntry),
		busy:    make(map[*Lease]struct{}),
		calls:   make(map[Store]int),
		wake:    make(chan struct{}, 1),
	}
}

// Start starts the renewal loop in its own goroutine. Calling it while the
// loop runs does nothing; calling it after Shutdown starts the loop again,
// so that a caller whose own start failed half-way can retry. Leases
// tracked meanwhile are renewed from then on.
func (r *Renewer) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.quit != nil {
		return
	}
	r.quit, r.stopped = make(chan struct{}), make(chan struct{})
	go r.loop(r.quit, r.stopped)
}

// Shutdown stops the loop, cancels the renewal round trips in flight and
// waits for them to return. Tracked leases are left as they are: no longer
// renewed, still held until released or expired. Calling it again, or
// without Start, does nothing.
func (r *Renewer) Shutdown() {
	r.mu.Lock()
	quit, stopped := r.quit, r.stopped
	r.quit, r.stopped = nil, nil
	r.mu.Unlock()
	if quit != nil {
		close(quit)
		<-stopped
	}
}

// Track renews leases (nil ones are ignored) until the returned untrack
// function is called, and calls onLost, once per lost lease, with the
// *LostError of any of them lost before that. onLost runs on the renewal
// loop or a timer goroutine and must not block: cancelling a context is the
// intended use. If a lease is already lost, onLost runs before Track
// returns.
//
// Call untrack when the work ends and before releasing or completing the
// leases, so that the release is not reported as a loss. It is safe to call
// more than once.
func (r *Renewer) Track(onLost func(error), leases ...*Lease) (untrack func()) {
	t := &Tracking{}
	r.TrackIn(t, onLost, leases...)
	return t.Untrack
}

// TrackIn is Track for a caller that keeps the Tracking with state of its
// own (the runner's attempt), sparing an allocation per call: t must be
// zero, and t.Untrack is untrack.
func (r *Renewer) TrackIn(t *Tracking, onLost func(error), leases ...*Lease) {
	t.r = r
	t.leases = t.inline[:0]
	now := time.Now()
	wake := false
	r.mu.Lock()
	for _, l := range leases {
		if l == nil {
			continue
		}
		e, ok := r.entries[l]
		if !ok {
			e = renewEntry{next: now.Add(l.ttl / 3)}
			// Leases of one TTL come due in the order they were taken:
			// most Track calls need not wake the loop.
			wake = wake || e.next.Before(r.wakeAt)
		}
		e.refs++
		r.entries[l] = e
		t.leases = append(t.leases, trackedLease{lease: l})
	}
	r.mu.Unlock()
	if onLost != nil {
		for i := range t.leases {
			tl := &t.leases[i]
			tl.callback, tl.registered = tl.lease.onLost(onLost)
		}
	}
	if wake {
		r.poke()
	}
}

// Tracking is what one Track call holds.
type Tracking struct {
	r      *Renewer
	leases []trackedLease
	inline [2]trackedLease // a marker and a lock: no second allocation
	once   sync.Once
}

// trackedLease is a lease of a Track call, with its onLost registration.
type trackedLease struct {
	lease      *Lease
	callback   uint64
	registered bool
}

// Untrack ends the tracking: see Track. It is safe to call more than once,
// and on a zero Tracking.
func (t *Tracking) Untrack() {
	if t.r == nil {
		return
	}
	t.once.Do(func() {
		for _, tl := range t.leases {
			if tl.registered {
				tl.lease.removeLost(tl.callback)
			}
		}
		t.r.mu.Lock()
		for _, tl := range t.leases {
			if e, ok := t.r.entries[tl.lease]; ok {
				if e.refs--; e.refs <= 0 {
					delete(t.r.entries, tl.lease)
				} else {
					t.r.entries[tl.lease] = e
				}
			}
		}
		t.r.mu.Unlock()
	})
}

// poke wakes the loop to look at its schedule again.
func (r *Renewer) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// idleWait is how long the loop sleeps with nothing tracked.
const idleWait = time.Minute

func (r *Renewer) loop(quit, stopped chan struct{}) {
	defer close(stopped)
	ctx, cancel := context.WithCancel(context.Background())
	var calls sync.WaitGroup
	defer func() {
		cancel()
		calls.Wait()
	}()
	timer := time.NewTimer(idleWait)
	defer timer.Stop()
	for {
		batches, next := r.due(time.Now())
		for _, leases := range batches {
			calls.Add(1)
			go func() {
				defer calls.Done()
				r.renew(ctx, leases)
			}()
		}
		timer.Reset(max(time.Until(next), 0))
		select {
		case <-quit:
			return
		case <-r.wake:
		case <-timer.C:
		}
	}
}

// due returns the leases to renew at now, one batch per store, marked
// busy, and when to look again. A lease is due when its renewal time is
// within a sixth of its TTL, so that leases taken at about the same time
// travel together; a lease whose last renewal failed is due only at its
// retry time. A lease already in a round trip waits for it to end, and so
// does a due lease whose store has MaxInFlight round trips in flight: the
// end of a round trip wakes the loop. Leases that need no more renewal
// are dropped.
func (r *Renewer) due(now time.Time) ([][]*Lease, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := now.Add(idleWait)
	var byStore map[Store][]*Lease
	for l, e := range r.entries {
		if l.done() {
			delete(r.entries, l)
			continue
		}
		if _, busy := r.busy[l]; busy {
			continue
		}
		slack := l.ttl / 6
		if e.retry {
			slack = 0 // a retry waits its full pause
		}
		if !e.next.After(now.Add(slack)) {
			if r.calls[l.store] < r.cfg.MaxInFlight {
				if byStore == nil {
					byStore = make(map[Store][]*Lease)
				}
				byStore[l.store] = append(byStore[l.store], l)
			}
			continue
		}
		if e.next.Before(next) {
			next = e.next
		}
	}
	batches := make([][]*Lease, 0, len(byStore))
	for store, leases := range byStore {
		r.calls[store]++
		for _, l := range leases {
			r.busy[l] = struct{}{}
		}
		batches = append(batches, leases)
	}
	r.wakeAt = next
	return batches, next
}

// renew renews leases, all of one store, in one round trip, and schedules
// their next renewals: a third of the TTL after a success, a ninth of the
// TTL after the failed attempt was sent (at once if it took longer). ctx
// ends when the loop stops.
func (r *Renewer) renew(ctx context.Context, leases []*Lease) {
	store := leases[0].store
	timeout := r.cfg.Timeout
	if timeout <= 0 {
		timeout = leases[0].ttl
		for _, l := range leases {
			timeout = min(timeout, l.ttl)
		}
		timeout /= 3
	}
	start := time.Now()
	end := start.Add(timeout)
	var last time.Time
	for _, l := range leases {
		if d := l.Deadline(); d.After(last) {
			last = d
		}
	}
	if last.Before(end) {
		end = last
	}
	cctx, cancel := context.WithDeadline(ctx, end)
	err := store.Renew(cctx, leases...)
	cancel()
	if err != nil && ctx.Err() == nil && r.cfg.OnError != nil { // not cut short by Shutdown
		r.cfg.OnError(err)
	}
	now := time.Now()
	r.mu.Lock()
	if r.calls[store]--; r.calls[store] <= 0 {
		delete(r.calls, store)
	}
	for _, l := range leases {
		delete(r.busy, l)
		e, ok := r.entries[l]
		if !ok {
			continue
		}
		if l.Err() == nil && time.Until(l.Deadline()) > l.ttl/2 {
			e.next, e.retry = now.Add(l.ttl/3), false
		} else {
			e.next, e.retry = start.Add(max(l.ttl/9, time.Millisecond)), true
		}
		r.entries[l] = e
	}
	r.mu.Unlock()
	r.poke()
}
