package lockcore

import (
	"cmp"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryConfig configures a MemoryStore. The zero value is ready to use.
type MemoryConfig struct {
	// Now decides when keys expire. Note that the local deadline of
	// leases always runs on the real clock (time.AfterFunc); run tests in a
	// testing/synctest bubble to fake both. Defaults to time.Now.
	Now func() time.Time
	// Prefix names keys as RedisStore does; it matters only for reading
	// them in a debugger. Defaults to PrefixDefault.
	Prefix string
	// RetryMin is the first pause between attempts on a busy lock.
	// Defaults to RetryMinDefault (10ms).
	RetryMin time.Duration
	// RetryMax caps the pause between attempts on a busy lock.
	// Defaults to RetryMaxDefault (500ms).
	RetryMax time.Duration
}

// MemoryStore is a Store held in one process's memory, with the semantics
// of RedisStore. It suits unit tests (inject a clock; simulate an outage
// with SetError) and single-process programs. Locks it grants mean nothing
// to other processes.
type MemoryStore struct {
	cfg  MemoryConfig
	now  func() time.Time
	keys keys

	mu      sync.Mutex
	vals    map[string]memValue
	fence   int64                           // the last fence handed out, for any key
	slots   map[string]map[string]time.Time // slot set key -> token -> lease expiry
	rates   map[string]*memRate
	waiters map[string][]string
	err     error

	delay atomic.Int64 // see SetDelay
}

type memValue struct {
	v   string
	exp time.Time // zero: no expiry
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore(cfg MemoryConfig) *MemoryStore {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &MemoryStore{
		cfg:     cfg,
		now:     cfg.Now,
		keys:    newKeys(cfg.Prefix),
		vals:    make(map[string]memValue),
		slots:   make(map[string]map[string]time.Time),
		rates:   make(map[string]*memRate),
		waiters: make(map[string][]string),
	}
}

// SetError makes every later operation fail with a *StoreError wrapping err,
// as if the store were unreachable, until called again with nil.
func (m *MemoryStore) SetError(err error) {
	m.mu.Lock()
	m.err = err
	m.mu.Unlock()
}

// SetDelay makes every later operation wait d before it runs, or until
// its context ends (it then fails with a *StoreError wrapping the
// context's error), as over a stuck connection or a stalled Redis; zero
// ends the delay for operations started from then on. An operation
// already waiting keeps waiting. Renewals take effect from the time they
// were sent, as on Redis.
func (m *MemoryStore) SetDelay(d time.Duration) {
	m.delay.Store(int64(d))
}

// lock waits out the injected delay, takes the mutex and checks the
// injected error and ctx.
func (m *MemoryStore) lock(ctx context.Context, op, key string) error {
	if d := time.Duration(m.delay.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return storeErr(op, key, ctx.Err())
		}
	}
	m.mu.Lock()
	err := m.err
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		m.mu.Unlock()
		return storeErr(op, key, err)
	}
	return nil
}

func (m *MemoryStore) get(k string) (string, bool) {
	e, ok := m.vals[k]
	if ok && !e.exp.IsZero() && !m.now().Before(e.exp) {
		delete(m.vals, k)
		return "", false
	}
	return e.v, ok
}

func (m *MemoryStore) set(k, v string, ttl time.Duration) {
	m.vals[k] = memValue{v: v, exp: m.now().Add(ttl)}
}

// pttl returns the remaining TTL of k, which must exist.
func (m *MemoryStore) pttl(k string) time.Duration {
	return m.vals[k].exp.Sub(m.now())
}

// release is release.lua for one key.
func (m *MemoryStore) release(k, want string) ReleaseResult {
	v, ok := m.get(k)
	switch {
	case !ok:
		return Expired
	case v != want:
		return NotOwner
	}
	delete(m.vals, k)
	return Released
}

// takeLock is acquire.lua; it returns the fence, or the busy lock's
// remaining TTL.
func (m *MemoryStore) takeLock(key, token string, ttl time.Duration) (int64, time.Duration, bool) {
	lk := m.keys.lock(key)
	if v, ok := m.get(lk); ok && v != token {
		return 0, m.pttl(lk), false
	}
	m.set(lk, token, ttl)
	// One counter for every key: the fences of each key strictly
	// increase, and nothing is kept per key. (RedisStore keeps one per
	// lock key, in the key's slot, where a script on Cluster can reach it.)
	m.fence++
	return m.fence, 0, true
}

// Acquire implements Store.
func (m *MemoryStore) Acquire(ctx context.Context, key string, ttl, wait time.Duration) (*Lease, error) {
	ttl, wait, err := lockParams(key, ttl, wait)
	if err != nil {
		return nil, err
	}
	token := newToken()
	var lease *Lease
	err = retryBusy(ctx, key, wait, newBackoff(m.cfg.RetryMin, m.cfg.RetryMax), func(ctx context.Context) (bool, time.Duration, error) {
		start := time.Now()
		if err := m.lock(ctx, "acquire", key); err != nil {
			return false, 0, err
		}
		fence, hint, ok := m.takeLock(key, token, ttl)
		m.mu.Unlock()
		if !ok {
			return false, hint, nil
		}
		lease = newLease(m, false, key, token, fence, ttl, start)
		return true, 0, nil
	})
	if err != nil {
		return nil, err
	}
	return lease, nil
}

// Admit implements Store, as admit.lua does.
func (m *MemoryStore) Admit(ctx context.Context, req AdmitRequest) (Admission, error) {
	if a, done, err := admitOpening(ctx, m, &req); done {
		return a, err
	}
	token := newToken()
	var a Admission
	err := retryBusy(ctx, req.LockKey, req.LockWait, newBackoff(m.cfg.RetryMin, m.cfg.RetryMax), func(ctx context.Context) (bool, time.Duration, error) {
		start := time.Now()
		if err := m.lock(ctx, "admit", req.DedupeKey); err != nil {
			return false, 0, err
		}
		defer m.mu.Unlock()
		cur, held := m.get(m.keys.inflight(req.DedupeKey))
		if held && isRecord(cur) {
			a = Admission{Verdict: Done, Result: []byte(cur[1:])}
			return true, 0, nil
		}
		if held && markerHolder(cur) != req.TaskID {
			a = Admission{Verdict: InFlightElsewhere, Holder: markerHolder(cur), HolderTTL: m.pttl(m.keys.inflight(req.DedupeKey))}
			return true, 0, nil
		}
		var fence int64
		if req.LockKey != "" {
			f, hint, ok := m.takeLock(req.LockKey, token, req.LockTTL)
			if !ok {
				return false, hint, nil
			}
			fence = f
			a.Lock = newLease(m, false, req.LockKey, token, fence, req.LockTTL, start)
		}
		marker := markerValue(token, req.TaskID)
		m.set(m.keys.inflight(req.DedupeKey), marker, req.MarkerTTL)
		a.Verdict = Admitted
		if held {
			a.Verdict = TakenOver
		}
		a.Marker = newLease(m, true, req.DedupeKey, marker, 0, req.MarkerTTL, start)
		return true, 0, nil
	})
	if err != nil {
		return Admission{}, err
	}
	return a, nil
}

// Complete implements Store, as complete.lua does.
func (m *MemoryStore) Complete(ctx context.Context, req CompleteRequest) (Completion, error) {
	if err := req.checkCheckpoint(); err != nil {
		return Completion{}, err
	}
	if req.Marker == nil {
		if c := req.Checkpoint; c != nil && req.Lock != nil {
			// As completeLocked: drop the checkpoint if the lock is ours.
			if err := m.lock(ctx, "complete", req.Lock.key); err != nil {
				return Completion{}, err
			}
			if v, ok := m.get(m.keys.lease(req.Lock)); ok && v == req.Lock.token {
				delete(m.vals, m.keys.checkpoint(*c))
			}
			m.mu.Unlock()
		}
		return m.Abandon(ctx, nil, req.Lock)
	}
	if !req.Marker.marker || (req.Lock != nil && req.Lock.marker) {
		return Completion{}, fmt.Errorf("lockstore: complete: CompleteRequest.Marker must be a marker and Lock a lock")
	}
	if err := m.lock(ctx, "complete", req.Marker.key); err != nil {
		return Completion{}, err
	}
	mk := req.Marker
	// As complete.lua: the record replaces the marker, another task's
	// marker too; a record already there is kept for a fresh window, a
	// redelivery's marker for a fresh marker TTL.
	key := m.keys.lease(mk)
	cur, held := m.get(key)
	window := cmp.Or(req.Window, WindowDefault)
	c := Completion{Marker: Expired}
	takenOver := false
	switch {
	case !held:
		m.set(key, recordValue(req.Result), window)
	case cur == mk.token:
		m.set(key, recordValue(req.Result), window)
		c.Marker = Released
	case isRecord(cur):
		m.set(key, cur, window)
	case markerHolder(cur) == markerHolder(mk.token):
		m.set(key, cur, mk.ttl)
		c.Marker, takenOver = NotOwner, true
	default:
		m.set(key, recordValue(req.Result), window)
		c.Marker = NotOwner
	}
	if req.Checkpoint != nil && !takenOver {
		// Unless a redelivery holds the marker: its place is its own.
		delete(m.vals, m.keys.checkpoint(*req.Checkpoint))
	}
	if req.Lock != nil {
		c.Lock = m.release(m.keys.lease(req.Lock), req.Lock.token)
	}
	m.mu.Unlock()
	mk.finished(c.Marker)
	if req.Lock != nil {
		req.Lock.finished(c.Lock)
	}
	return c, nil
}

// Abandon implements Store.
func (m *MemoryStore) Abandon(ctx context.Context, marker, lock *Lease) (Completion, error) {
	if marker == nil && lock == nil {
		return Completion{}, nil
	}
	if (marker != nil && !marker.marker) || (lock != nil && lock.marker) {
		return Completion{}, fmt.Errorf("lockstore: abandon: marker must be a marker lease and lock a lock lease")
	}
	if err := m.lock(ctx, "release", ""); err != nil {
		return Completion{}, err
	}
	var c Completion
	if marker != nil {
		c.Marker = m.release(m.keys.lease(marker), marker.token)
	}
	if lock != nil {
		c.Lock = m.release(m.keys.lease(lock), lock.token)
	}
	m.mu.Unlock()
	if marker != nil {
		marker.finished(c.Marker)
	}
	if lock != nil {
		lock.finished(c.Lock)
	}
	return c, nil
}

// Renew implements Store.
func (m *MemoryStore) Renew(ctx context.Context, leases ...*Lease) error {
	live, err := liveLeases(m, leases)
	if err != nil || len(live) == 0 {
		return err
	}
	start := time.Now()
	if err := m.lock(ctx, "renew", ""); err != nil {
		for _, l := range live {
			l.renewFailed(err)
		}
		return err
	}
	replies := make([]int64, len(live))
	for i, l := range live {
		if l.slot {
			replies[i] = m.extendSlot(l, l.ttl)
			continue
		}
		k := m.keys.lease(l)
		v, ok := m.get(k)
		switch {
		case !ok:
			replies[i] = 0
		case v != l.token:
			replies[i] = -1
		default:
			m.set(k, v, l.ttl)
			replies[i] = 1
		}
	}
	m.mu.Unlock()
	for i, l := range live {
		l.renewed(replies[i], start)
	}
	return nil
}

func (m *MemoryStore) expireIn(ctx context.Context, d time.Duration, l *Lease) (int64, error) {
	if err := m.lock(ctx, "expire", l.key); err != nil {
		return 0, err
	}
	defer m.mu.Unlock()
	if l.slot {
		return m.extendSlot(l, d), nil
	}
	k := m.keys.lease(l)
	switch v, ok := m.get(k); {
	case !ok:
		return 0, nil
	case v != l.token:
		return -1, nil
	default:
		m.set(k, v, max(d, time.Millisecond))
		return 1, nil
	}
}
