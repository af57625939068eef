package lockcore

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// ReleaseResult says what a release found.
type ReleaseResult int

const (
	// Released means the key held this lease and was deleted.
	Released ReleaseResult = iota + 1
	// Expired means the key was already gone: the lease had expired (or was
	// deleted) before the release.
	Expired
	// NotOwner means another owner held the key; it was left alone.
	NotOwner
)

func (r ReleaseResult) String() string {
	switch r {
	case Released:
		return "released"
	case Expired:
		return "expired"
	case NotOwner:
		return "not_owner"
	}
	return fmt.Sprintf("ReleaseResult(%d)", int(r))
}

// releaseResult maps a script's reply (1, 0, -1) to a ReleaseResult.
func releaseResult(n int64) ReleaseResult {
	switch {
	case n > 0:
		return Released
	case n == 0:
		return Expired
	}
	return NotOwner
}

// Lease is a held lock, or a held in-flight marker of a dedupe key.
//
// A lock lease comes from Store.Acquire or Store.Admit; its token is 128
// random bits and its fence a number that grows with every grant of the key.
// A marker lease comes from Store.Admit; its token is the admission's token
// and the task ID ("<token>:<task ID>") and its fence is 0. A slot lease
// comes from Store.TakeSlot. All kinds are renewed the same way (Extend, or
// a Renewer) and end with Release, Store.Complete, Store.Abandon or
// Store.ReleaseSlot.
//
// A Lease tracks a local deadline: the time of the request that granted or
// last renewed it plus its TTL, less a small allowance for clock drift. When
// the deadline passes without a successful renewal, or a renewal finds the key
// gone or owned by someone else, the lease is lost: Lost is closed and Err
// returns a *LostError. The deadline is watched with a timer on the real
// clock, so Lost closes even when nobody renews.
//
// A Lease is safe for concurrent use.
type Lease struct {
	store  Store
	marker bool
	slot   bool
	key    string
	token  string
	fence  int64
	ttl    time.Duration

	tokenArg any    // token boxed as a script argument, when the grant had it so; else nil
	fenceArg any    // fence boxed as a script argument, when the grant's reply had it so; else nil
	rkey     string // its Redis key as its grant built it (a marker's state key, a lock's key), or empty
	bucket   string // a marker's: the bucket of its record (see bucket.go), or empty
	fieldArg any    // a marker's: its record's field in bucket, boxed

	mu        sync.Mutex
	lost      chan struct{} // made by Lost when first asked; closed when lost
	deadline  time.Time
	timer     *time.Timer
	released  bool
	cause     *LostError
	lastErr   error
	nextCB    uint64
	callbacks []lostCallback  // in registration order
	cbInline  [1]lostCallback // the usual one callback: no allocation
}

// newLease returns a lock or marker lease granted by a request sent at
// start.
func newLease(store Store, marker bool, key, token string, fence int64, ttl time.Duration, start time.Time) *Lease {
	return startLease(&Lease{store: store, marker: marker, key: key, token: token, fence: fence, ttl: ttl}, start)
}

// newSlot returns a concurrency slot lease granted by a request sent at
// start.
func newSlot(store Store, key, token string, ttl time.Duration, start time.Time) *Lease {
	return startLease(&Lease{store: store, slot: true, key: key, token: token, ttl: ttl}, start)
}

// startLease sets up l's local deadline and its timer.
func startLease(l *Lease, start time.Time) *Lease {
	l.deadline = start.Add(validity(l.ttl))
	l.mu.Lock() // the timer may fire before the assignment
	l.timer = time.AfterFunc(time.Until(l.deadline), l.expire)
	l.mu.Unlock()
	return l
}

// validity is how long after the granting request a lease is trusted: its
// TTL less 1% and 2ms for clock drift between this process and Redis (the
// allowance Redlock uses).
func validity(ttl time.Duration) time.Duration {
	return max(ttl-ttl/100-2*time.Millisecond, 0)
}

// Key returns the lock key, or the dedupe key of a marker.
func (l *Lease) Key() string { return l.key }

// arg returns the lease's token as a script argument: boxed once when its
// grant boxed it already, else per call.
func (l *Lease) arg() any {
	if l.tokenArg != nil {
		return l.tokenArg
	}
	return l.token
}

// fenceArgument returns a lock lease's fence as a script argument: boxed
// once when its grant's reply boxed it, else per call.
func (l *Lease) fenceArgument() any {
	if l.fenceArg != nil {
		return l.fenceArg
	}
	return l.fence
}

// lockResult is the result of releasing lock lease l as the store replied
// n: a lock whose deadline passed while no one took it is released in
// the store, but the lease had run out, as l's own deadline (earlier than
// the store's) tells.
func (l *Lease) lockResult(n int64) ReleaseResult {
	r := releaseResult(n)
	if r == Released && !l.marker {
		l.mu.Lock()
		ran := !time.Now().Before(l.deadline)
		l.mu.Unlock()
		if ran {
			r = Expired
		}
	}
	return r
}

// Token returns the owner token: a random token for a lock, "<token>:<task ID>"
// for a marker.
func (l *Lease) Token() string { return l.token }

// Fence returns the fencing token of this grant. Fences of one lock key
// strictly increase from grant to grant, across owners and processes, as
// long as Redis keeps its writes. It is 0 for a marker.
func (l *Lease) Fence() int64 { return l.fence }

// TTL returns the TTL the lease is granted and renewed with.
func (l *Lease) TTL() time.Duration { return l.ttl }

// IsMarker reports whether the lease is an in-flight marker rather than a
// lock.
func (l *Lease) IsMarker() bool { return l.marker }

// Deadline returns the local deadline: past it, the lease is lost unless
// renewed before.
func (l *Lease) Deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deadline
}

// Lost returns a channel closed when the lease is known lost. It is never
// closed for a lease released while still held.
func (l *Lease) Lost() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost == nil {
		l.lost = make(chan struct{})
		if l.cause != nil {
			close(l.lost)
		}
	}
	return l.lost
}

// Err returns nil while the lease is not known lost, and a *LostError
// (matching ErrLockLost) once it is.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cause == nil {
		return nil
	}
	return l.cause
}

// Extend resets the lease's TTL in the store. It returns nil on success, a
// *LostError when the key was gone or held by another owner (the lease is then
// lost), or a *StoreError when the store could not be reached (the lease is
// kept until its local deadline). Extending a released lease returns a
// *LostError without touching the store.
func (l *Lease) Extend(ctx context.Context) error {
	l.mu.Lock()
	released, cause := l.released, l.cause
	l.mu.Unlock()
	if cause != nil {
		return cause
	}
	if released {
		return &LostError{Key: l.key, Marker: l.marker, Slot: l.slot, Reason: LostGone}
	}
	if err := l.store.Renew(ctx, l); err != nil {
		return err
	}
	return l.Err()
}

// Release deletes the key if this lease still holds it (an atomic
// compare-and-delete) and says what it found. Expired and NotOwner also mark
// the lease lost. Release a lease on a detached context
// (context.WithoutCancel plus a short timeout) so that cancelled work still
// releases. A marker released this way leaves no completed record: use
// Store.Complete for that.
func (l *Lease) Release(ctx context.Context) (ReleaseResult, error) {
	if l.slot {
		if _, err := l.store.ReleaseSlot(ctx, l); err != nil {
			return 0, err
		}
		return l.releaseResult(), nil
	}
	var c Completion
	var err error
	if l.marker {
		c, err = l.store.Abandon(ctx, l, nil)
		return c.Marker, err
	}
	c, err = l.store.Abandon(ctx, nil, l)
	return c.Lock, err
}

// ExpireAfter hands the lease over to expiry: if the store still holds it,
// its TTL there becomes d, and from now on the lease counts as released
// here (no longer renewed, its loss no longer reported). A process about
// to exit while work it abandoned may still be running calls it, so that
// whoever waits for the key gets it d later rather than after the full TTL
// or lease renewal by a process that is gone; a late write of the dying
// holder is then refused by its fence.
func (l *Lease) ExpireAfter(ctx context.Context, d time.Duration) error {
	if l.done() {
		return nil
	}
	if _, err := l.store.expireIn(ctx, d, l); err != nil {
		return err
	}
	l.mu.Lock()
	l.released = true
	l.timer.Stop()
	l.mu.Unlock()
	return nil
}

// releaseResult says what the release of a slot found, from its state.
func (l *Lease) releaseResult() ReleaseResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cause != nil {
		return Expired
	}
	return Released
}

// extended records a successful renewal sent at start. The deadline only
// moves forward: the reply of a renewal sent earlier than another (a
// Lease.Extend beside the Renewer's) may come last, but the key's TTL in
// the store runs from whichever was applied last, so from the later send
// at least.
func (l *Lease) extended(start time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released || l.cause != nil {
		return
	}
	l.lastErr = nil
	if d := start.Add(validity(l.ttl)); d.After(l.deadline) {
		l.deadline = d
		l.timer.Reset(time.Until(d))
	}
}

// renewFailed records a renewal that did not reach the store.
func (l *Lease) renewFailed(err error) {
	l.mu.Lock()
	l.lastErr = err
	l.mu.Unlock()
}

// finished records what a release (or completion) found.
func (l *Lease) finished(r ReleaseResult) {
	switch r {
	case Released:
		l.mu.Lock()
		l.released = true
		l.timer.Stop()
		l.mu.Unlock()
	case Expired:
		l.setLost(LostGone, nil)
		l.mu.Lock()
		l.released = true
		l.mu.Unlock()
	case NotOwner:
		l.setLost(LostNotOwner, nil)
		l.mu.Lock()
		l.released = true
		l.mu.Unlock()
	}
}

// renewed records the reply of a renewal sent at start: 1 extended, 0 gone,
// -1 another owner.
func (l *Lease) renewed(n int64, start time.Time) {
	switch {
	case n > 0:
		l.extended(start)
	case n == 0:
		l.setLost(LostGone, nil)
	default:
		l.setLost(LostNotOwner, nil)
	}
}

// expire runs when the local deadline timer fires.
func (l *Lease) expire() {
	l.mu.Lock()
	if l.released || l.cause != nil {
		l.mu.Unlock()
		return
	}
	if d := time.Until(l.deadline); d > 0 { // extended while the timer fired
		l.timer.Reset(d)
		l.mu.Unlock()
		return
	}
	lastErr := l.lastErr
	l.mu.Unlock()
	l.setLost(LostExpired, lastErr)
}

// setLost marks the lease lost, once, and runs the loss callbacks.
func (l *Lease) setLost(reason LostReason, err error) {
	l.mu.Lock()
	if l.cause != nil || l.released {
		l.mu.Unlock()
		return
	}
	l.cause = &LostError{Key: l.key, Marker: l.marker, Slot: l.slot, Reason: reason, Err: err}
	l.timer.Stop()
	if l.lost != nil {
		close(l.lost)
	}
	cbs := l.callbacks
	l.callbacks = nil
	cause := l.cause
	l.mu.Unlock()
	for _, cb := range cbs {
		cb.f(cause)
	}
}

// lostCallback is a function registered with onLost.
type lostCallback struct {
	id uint64
	f  func(error)
}

// onLost registers f to run once when the lease is lost and returns its
// id for removeLost; f runs at once, and registered is false, when the
// lease already is lost.
func (l *Lease) onLost(f func(error)) (id uint64, registered bool) {
	l.mu.Lock()
	if l.cause != nil {
		cause := l.cause
		l.mu.Unlock()
		f(cause)
		return 0, false
	}
	id = l.nextCB
	l.nextCB++
	if l.callbacks == nil {
		l.callbacks = l.cbInline[:0]
	}
	l.callbacks = append(l.callbacks, lostCallback{id: id, f: f})
	l.mu.Unlock()
	return id, true
}

// removeLost unregisters the function onLost registered as id.
func (l *Lease) removeLost(id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, cb := range l.callbacks {
		if cb.id == id {
			l.callbacks = append(l.callbacks[:i], l.callbacks[i+1:]...)
			return
		}
	}
}

// done reports whether the lease needs no more renewal.
func (l *Lease) done() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.released || l.cause != nil
}
