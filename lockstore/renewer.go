package lockstore

import (
	"context"
	"sync"
	"time"
)

// RenewerConfig configures a Renewer. The zero value is ready to use.
type RenewerConfig struct {
	// Timeout bounds one renewal round trip. Zero means a third of the
	// shortest TTL among the leases being renewed, so that a stuck round
	// trip still leaves time for another attempt before the leases expire.
	Timeout time.Duration
	// OnError, when set, is called from the renewal loop with the error of
	// each renewal round trip that failed (a *StoreError). Leases are kept
	// until their local deadline; renewal is retried meanwhile. It must not
	// block. Defaults to ignoring the error.
	OnError func(error)
}

// Renewer keeps leases alive for as long as their work runs: one loop per
// process renews every tracked lease (locks and in-flight markers alike) at
// about a third of its TTL, sending all leases that are due in one pipeline
// per store, rather than running a goroutine per lease.
//
// Leases due within a sixth of their TTL of each other are renewed together
// so that a busy worker sends few round trips. When a renewal finds a lease
// gone or owned by another, or the lease's local deadline passes before a
// renewal succeeds (Redis unreachable), the lease is lost: its Lost channel
// closes and the callback given to Track runs with a *LostError, which
// matches ErrLockLost.
//
// Start starts the loop and Shutdown stops it; Shutdown releases nothing.
type Renewer struct {
	cfg RenewerConfig

	mu      sync.Mutex
	entries map[*Lease]*renewEntry
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
	return &Renewer{
		cfg:     cfg,
		entries: make(map[*Lease]*renewEntry),
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

// Shutdown stops the loop and waits for it to end. Tracked leases are left
// as they are: no longer renewed, still held until released or expired.
// Calling it again, or without Start, does nothing.
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
	t := &tracking{r: r}
	t.leases = t.inline[:0]
	now := time.Now()
	wake := false
	r.mu.Lock()
	for _, l := range leases {
		if l == nil {
			continue
		}
		e := r.entries[l]
		if e == nil {
			e = &renewEntry{next: now.Add(l.ttl / 3)}
			r.entries[l] = e
			// Leases of one TTL come due in the order they were taken:
			// most Track calls need not wake the loop.
			wake = wake || e.next.Before(r.wakeAt)
		}
		e.refs++
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
	return t.untrack
}

// tracking is what one Track call holds.
type tracking struct {
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

func (t *tracking) untrack() {
	t.once.Do(func() {
		for _, tl := range t.leases {
			if tl.registered {
				tl.lease.removeLost(tl.callback)
			}
		}
		t.r.mu.Lock()
		for _, tl := range t.leases {
			if e := t.r.entries[tl.lease]; e != nil {
				if e.refs--; e.refs <= 0 {
					delete(t.r.entries, tl.lease)
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
	timer := time.NewTimer(idleWait)
	defer timer.Stop()
	for {
		due, next := r.due(time.Now())
		if len(due) > 0 {
			r.renew(due)
			continue
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

// due returns the leases to renew at now, and when to look again otherwise.
// A lease is due when its renewal time is within a sixth of its TTL, so
// that leases taken at about the same time travel together; a lease whose
// last renewal failed is due only at its retry time. Leases that need no
// more renewal are dropped.
func (r *Renewer) due(now time.Time) ([]*Lease, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := now.Add(idleWait)
	var due []*Lease
	for l, e := range r.entries {
		if l.done() {
			delete(r.entries, l)
			continue
		}
		slack := l.ttl / 6
		if e.retry {
			slack = 0 // a retry waits its full pause
		}
		if !e.next.After(now.Add(slack)) {
			due = append(due, l)
			continue
		}
		if e.next.Before(next) {
			next = e.next
		}
	}
	if len(due) == 0 {
		r.wakeAt = next
	} else {
		r.wakeAt = now // the loop scans again after renewing: no poke needed
	}
	return due, next
}

// renew renews due, one round trip per store, and schedules the next
// renewals: a third of the TTL after a success, a ninth after a failure.
func (r *Renewer) renew(due []*Lease) {
	byStore := make(map[Store][]*Lease)
	for _, l := range due {
		byStore[l.store] = append(byStore[l.store], l)
	}
	for store, leases := range byStore {
		timeout := r.cfg.Timeout
		if timeout <= 0 {
			timeout = leases[0].ttl
			for _, l := range leases {
				timeout = min(timeout, l.ttl)
			}
			timeout /= 3
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := store.Renew(ctx, leases...)
		cancel()
		if err != nil && r.cfg.OnError != nil {
			r.cfg.OnError(err)
		}
		now := time.Now()
		r.mu.Lock()
		for _, l := range leases {
			e := r.entries[l]
			if e == nil {
				continue
			}
			if l.Err() == nil && time.Until(l.Deadline()) > l.ttl/2 {
				e.next, e.retry = now.Add(l.ttl/3), false
			} else {
				e.next, e.retry = now.Add(max(l.ttl/9, time.Millisecond)), true
			}
		}
		r.mu.Unlock()
	}
}
