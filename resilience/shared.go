package resilience

import (
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/backoff"
)

// RedisErrorPolicy says what a SharedBreaker does when Redis cannot be
// reached (or a script fails).
type RedisErrorPolicy uint8

const (
	// FailOpenLocal falls back to a purely local Breaker with the same
	// thresholds until Redis answers again. The replica keeps protecting
	// its dependency on its own evidence, and an outage of Redis does not
	// stop work that does not need Redis. It is the recommended default.
	FailOpenLocal RedisErrorPolicy = iota + 1
	// FailClosed refuses every call while Redis is unreachable, with an
	// error that matches ErrOpen (so the runner reschedules the job) and
	// wraps the Redis error. Choose it when calling the dependency without
	// cluster-wide protection is worse than not calling it at all.
	FailClosed
)

// String returns "fail-open-local" or "fail-closed".
func (p RedisErrorPolicy) String() string {
	switch p {
	case FailOpenLocal:
		return "fail-open-local"
	case FailClosed:
		return "fail-closed"
	default:
		return fmt.Sprintf("RedisErrorPolicy(%d)", uint8(p))
	}
}

// Defaults for SharedConfig.
const (
	CacheTTLDefault   = 200 * time.Millisecond
	RedisRetryDefault = time.Second
)

// sharedKeyTTL bounds the life of a breaker's hash that nobody writes to: an
// idle breaker is closed, and a missing hash reads as closed.
const sharedKeyTTL = 24 * time.Hour

// SharedConfig tunes a SharedBreaker. The zero value is a valid
// configuration: every zero field takes the documented default.
type SharedConfig struct {
	// BreakerConfig sets the thresholds and timing, counted across all
	// replicas, and configures the local fallback breaker. A SharedBreaker
	// trips on consecutive failures only (Trip must be TripConsecutive),
	// admits one half-open probe at a time cluster-wide (HalfOpenMaxCalls
	// and HalfOpenMaxWait are ignored: see ProbeTimeout), closes after
	// SuccessThreshold successful probes, and a single failed probe opens
	// it again. Its Now times only the local cache, RedisRetry and the
	// local fallback; the shared state is timed by Redis server time.
	BreakerConfig
	// ProbeTimeout is how long a granted half-open probe holds the
	// cluster-wide probe slot. A probe that has not reported by then (its
	// replica crashed, or the call hangs) loses the slot, another replica
	// may probe, and the late report is ignored. Defaults to OpenTimeout.
	ProbeTimeout time.Duration
	// CacheTTL is how long the state read from Redis is trusted locally: a
	// closed breaker admits, and an open one refuses, without a round trip
	// while the cached state is younger than CacheTTL. A larger value saves
	// round trips but lets a replica see another one's trip later. Set it
	// negative to read Redis on every call. Defaults to CacheTTLDefault
	// (200ms).
	CacheTTL time.Duration
	// OnRedisError is the policy applied when Redis is unreachable.
	// Defaults to FailOpenLocal.
	OnRedisError RedisErrorPolicy
	// RedisRetry is how long a SharedBreaker keeps applying OnRedisError
	// after a Redis error before it tries Redis again, so that an outage
	// does not add a failed round trip to every call. Defaults to
	// RedisRetryDefault (1s).
	RedisRetry time.Duration
}

// withDefaults returns a copy of c with every zero field set to its default.
func (c SharedConfig) withDefaults() SharedConfig {
	c.SuccessThreshold = cmp.Or(c.SuccessThreshold, SuccessThresholdDefault)
	c.HalfOpenMaxCalls = c.SuccessThreshold // one probe at a time, cluster-wide
	c.BreakerConfig = c.BreakerConfig.withDefaults()
	c.ProbeTimeout = cmp.Or(c.ProbeTimeout, c.OpenTimeout)
	c.CacheTTL = cmp.Or(c.CacheTTL, CacheTTLDefault)
	c.OnRedisError = cmp.Or(c.OnRedisError, FailOpenLocal)
	c.RedisRetry = cmp.Or(c.RedisRetry, RedisRetryDefault)
	return c
}

// validate reports the first invalid field of a config with defaults applied.
func (c SharedConfig) validate() error {
	if err := c.BreakerConfig.validate(); err != nil {
		return errors.New(strings.Replace(err.Error(), "BreakerConfig.", "SharedConfig.", 1))
	}
	switch {
	case c.Trip != TripConsecutive:
		return fmt.Errorf("resilience: SharedConfig.Trip must be TripConsecutive, got %v", c.Trip)
	case c.OpenTimeout < time.Millisecond:
		return fmt.Errorf("resilience: SharedConfig.OpenTimeout must be at least 1ms, got %s", c.OpenTimeout)
	case c.ProbeTimeout < time.Millisecond:
		return fmt.Errorf("resilience: SharedConfig.ProbeTimeout must be at least 1ms, got %s", c.ProbeTimeout)
	case c.OnRedisError != FailOpenLocal && c.OnRedisError != FailClosed:
		return fmt.Errorf("resilience: SharedConfig.OnRedisError: unknown policy %d", c.OnRedisError)
	case c.RedisRetry <= 0:
		return fmt.Errorf("resilience: SharedConfig.RedisRetry must be positive, got %s", c.RedisRetry)
	}
	return nil
}

var (
	//go:embed lua/shared_allow.lua
	sharedAllowLua    string
	sharedAllowScript = redis.NewScript(sharedAllowLua)
	//go:embed lua/shared_done.lua
	sharedDoneLua    string
	sharedDoneScript = redis.NewScript(sharedDoneLua)
)

// sharedKey returns the Redis key holding the state of the shared breaker
// named name. The hash tag keeps it in one Cluster slot.
func sharedKey(name string) string { return "jobrunner:{breaker:" + name + "}" }

// SharedBreaker is a circuit breaker whose state is shared by every replica
// that creates one with the same name and Redis. It is opt-in: a plain
// Breaker is cheaper and needs no Redis, and suits most dependencies.
//
// The state of one dependency lives in one Redis hash (sharedKey) and changes
// only through atomic Lua scripts timed by the Redis server's clock, so
// replicas never overwrite each other's updates and their clock skew does not
// matter. No lock is held while the caller makes its call (unlike gobreaker's
// DistributedCircuitBreaker, which serialises every call across replicas
// behind a redsync lock): admitting a call and recording its outcome are one
// short script each.
//
// A closed breaker trips after FailureThreshold consecutive failures seen by
// any replica. After the open period (jittered per trip), exactly one probe
// at a time is admitted cluster-wide; its slot expires after ProbeTimeout.
// Every state change and every probe grant starts a new generation, and
// outcomes of older generations are ignored. SuccessThreshold successful
// probes close the breaker.
//
// State is read through a local cache (CacheTTL), so a call on a closed
// breaker usually costs no round trip; Done costs one, except for a success
// while the cached state is closed with no failure streak. When Redis is
// unreachable, OnRedisError decides.
//
// A transition happens in whichever replica's script makes it, so each
// replica reports the transitions it sees: BreakerConfig.OnStateChange is
// called when a state read from Redis differs from the last one this
// replica saw (replies of an older generation, which can arrive late, are
// not), outside the breaker's lock and in order. A replica that makes no
// call between two transitions reports one change from the first state to
// the last. The FailOpenLocal fallback breaker reports its own transitions
// through the same callback while Redis is unreachable. A SharedBreaker is
// safe for concurrent use.
type SharedBreaker struct {
	rdb   redis.Scripter
	name  string
	key   string
	cfg   SharedConfig
	local *Breaker     // The FailOpenLocal fallback.
	noted atomic.Int64 // Unix ns when the name was last noted in the index (shared_index.go); 0: never.

	mu        sync.Mutex
	snap      sharedSnap  // Last state read from Redis.
	downUntil time.Time   // Redis is not tried again before this.
	seen      State       // Last state reported to OnStateChange; a new breaker is closed.
	seenGen   int64       // Generation of seen.
	notes     transitions // Changes of seen not yet reported.
}

// sharedSnap is a state read from Redis, at local time at.
type sharedSnap struct {
	state State
	gen   int64 // 0 when unknown.
	fails int64
	retry time.Duration
	at    time.Time
}

// sharedTicket is the admission of one call by SharedBreaker.begin. Its zero
// value belongs to no generation, so reporting it does nothing.
type sharedTicket struct {
	gen   int64
	local bool   // Admitted by the local fallback breaker.
	lt    ticket // The fallback breaker's ticket when local is true.
}

// NewSharedBreaker returns a breaker named after the dependency it guards,
// whose state is shared through rdb. It returns an error naming the field
// when cfg is invalid. Creating it touches neither Redis nor the key.
func NewSharedBreaker(rdb redis.Scripter, name string, cfg SharedConfig) (*SharedBreaker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	lc := cfg.BreakerConfig
	lc.HalfOpenMaxCalls, lc.HalfOpenMaxWait = cfg.SuccessThreshold, cfg.ProbeTimeout
	local, err := NewBreaker(name, lc)
	if err != nil {
		return nil, err
	}
	return &SharedBreaker{rdb: rdb, name: name, key: sharedKey(name), cfg: cfg, local: local}, nil
}

// Name returns the breaker's name: the dependency it guards.
func (b *SharedBreaker) Name() string { return b.name }

// Call runs fn as one call to the breaker's dependency and records its
// outcome (classified by the package's Classify; a panic in fn is neutral
// and continues). If the breaker refuses, fn is not run and the error is an
// *OpenError whose RetryAfter says when a call could be admitted; under
// FailClosed, while Redis is unreachable, it also wraps the Redis error. If
// ctx is done before Redis answers, Call returns ctx's error. An outcome
// that cannot be written to Redis is dropped, which only delays a trip.
func (b *SharedBreaker) Call(ctx context.Context, fn func(ctx context.Context) error) error {
	t, err := b.begin(ctx)
	if err != nil {
		return err
	}
	finished := false
	defer func() {
		if !finished {
			_ = b.end(context.WithoutCancel(ctx), t, Neutral)
		}
	}()
	err = fn(ctx)
	finished = true
	_ = b.endErr(context.WithoutCancel(ctx), t, err)
	return err
}

// begin asks to make one call. If the breaker admits it, the caller must
// make the call and then report its outcome exactly once with end, passing
// the ticket.
func (b *SharedBreaker) begin(ctx context.Context) (sharedTicket, error) {
	now := b.cfg.Now()
	b.mu.Lock()
	snap, down := b.snap, now.Before(b.downUntil)
	b.mu.Unlock()
	if down {
		return b.fallback(nil)
	}
	if age := now.Sub(snap.at); snap.gen != 0 && age < b.cfg.CacheTTL {
		switch {
		case snap.state == StateClosed:
			return sharedTicket{gen: snap.gen}, nil
		case snap.retry > age:
			// Open, or half-open with the probe slot held elsewhere.
			return sharedTicket{}, &OpenError{Dependency: b.name, RetryAfter: snap.retry - age}
		}
	}
	res, err := b.allow(ctx, true)
	if err != nil {
		if ctx.Err() != nil {
			return sharedTicket{}, err
		}
		return b.fallback(err)
	}
	if res.admitted {
		return sharedTicket{gen: res.snap.gen}, nil
	}
	return sharedTicket{}, &OpenError{Dependency: b.name, RetryAfter: res.snap.retry}
}

// fallback applies OnRedisError to a call. err is the Redis error, or nil
// when Redis is skipped because it failed less than RedisRetry ago.
func (b *SharedBreaker) fallback(err error) (sharedTicket, error) {
	if err != nil {
		b.markDown()
	}
	if b.cfg.OnRedisError == FailClosed {
		if err == nil {
			err = ErrRedisUnavailable
		}
		return sharedTicket{}, fmt.Errorf("%w: %w", &OpenError{Dependency: b.name, RetryAfter: b.cfg.RedisRetry}, err)
	}
	t, lerr := b.local.begin()
	if lerr != nil {
		return sharedTicket{}, lerr
	}
	return sharedTicket{local: true, lt: t}, nil
}

// ErrRedisUnavailable is wrapped by the errors of a SharedBreaker under
// FailClosed while it skips Redis after a recent Redis error.
var ErrRedisUnavailable = errors.New("resilience: redis unavailable")

// end reports the outcome of a call admitted by begin, exactly once per
// ticket. Outcomes of tickets from an older generation are ignored, and so
// are outcomes of the zero ticket. A ticket admitted by the local fallback
// reports to the fallback. end returns the Redis error if the outcome could
// not be recorded; the outcome is then lost, which only delays a trip.
func (b *SharedBreaker) end(ctx context.Context, t sharedTicket, o Result) error {
	if t.local {
		b.local.end(t.lt, o)
		return nil
	}
	if t.gen == 0 || (o != Success && o != Failure && o != Neutral) {
		return nil
	}
	now := b.cfg.Now()
	b.mu.Lock()
	snap := b.snap
	b.mu.Unlock()
	if snap.gen == t.gen && snap.state == StateClosed && now.Sub(snap.at) < b.cfg.CacheTTL &&
		(o == Neutral || (o == Success && snap.fails == 0)) {
		return nil // Nothing to change, as far as the fresh cache knows.
	}
	vals, err := sharedDoneScript.Run(ctx, b.rdb, []string{b.key},
		t.gen, uint8(o), b.cfg.FailureThreshold, b.cfg.SuccessThreshold,
		b.openPeriod().Milliseconds(), sharedKeyTTL.Milliseconds()).Int64Slice()
	if err != nil {
		return fmt.Errorf("resilience: shared breaker %q: record outcome: %w", b.name, err)
	}
	if len(vals) != 5 {
		return fmt.Errorf("resilience: shared breaker %q: record outcome: unexpected reply %v", b.name, vals)
	}
	b.store(vals[1:], now)
	return nil
}

// endErr reports the outcome of a call admitted by begin, classifying err
// with the package's Classify. The same rules as for end apply.
func (b *SharedBreaker) endErr(ctx context.Context, t sharedTicket, err error) error {
	return b.end(ctx, t, Classify(err))
}

// State returns the breaker's current state, from the cache when it is fresh
// and from Redis otherwise. While Redis is unreachable it returns the local
// fallback's state under FailOpenLocal, and StateOpen with the Redis error
// (or ErrRedisUnavailable) under FailClosed.
func (b *SharedBreaker) State(ctx context.Context) (State, error) {
	now := b.cfg.Now()
	b.mu.Lock()
	snap, down := b.snap, now.Before(b.downUntil)
	b.mu.Unlock()
	if down {
		return b.fallbackState(ErrRedisUnavailable)
	}
	if snap.gen != 0 && now.Sub(snap.at) < b.cfg.CacheTTL {
		return snap.state, nil
	}
	res, err := b.allow(ctx, false)
	if err != nil {
		if ctx.Err() == nil {
			b.markDown()
		}
		return b.fallbackState(err)
	}
	return res.snap.state, nil
}

// fallbackState is the state State reports while Redis is unreachable: the
// local fallback's under FailOpenLocal (with no error, since that breaker
// decides), StateOpen and err under FailClosed.
func (b *SharedBreaker) fallbackState(err error) (State, error) {
	if b.cfg.OnRedisError == FailClosed {
		return StateOpen, err
	}
	return b.local.State(), nil
}

// markDown makes the breaker skip Redis for RedisRetry and forget its cache.
func (b *SharedBreaker) markDown() {
	b.mu.Lock()
	b.downUntil = b.cfg.Now().Add(b.cfg.RedisRetry)
	b.snap = sharedSnap{}
	b.mu.Unlock()
}

// sharedAllowResult is the reply of shared_allow.lua.
type sharedAllowResult struct {
	admitted bool
	snap     sharedSnap
}

// allow runs shared_allow.lua, taking the probe slot if take is true, and
// caches the state it returns.
func (b *SharedBreaker) allow(ctx context.Context, take bool) (sharedAllowResult, error) {
	flag := "0"
	if take {
		flag = "1"
	}
	vals, err := sharedAllowScript.Run(ctx, b.rdb, []string{b.key},
		flag, b.cfg.ProbeTimeout.Milliseconds(), sharedKeyTTL.Milliseconds()).Int64Slice()
	if err != nil {
		return sharedAllowResult{}, fmt.Errorf("resilience: shared breaker %q: allow: %w", b.name, err)
	}
	if len(vals) != 5 {
		return sharedAllowResult{}, fmt.Errorf("resilience: shared breaker %q: allow: unexpected reply %v", b.name, vals)
	}
	now := b.cfg.Now()
	snap := b.store(vals[1:], now)
	b.noteIndex(ctx, now)
	return sharedAllowResult{admitted: vals[0] == 1, snap: snap}, nil
}

// store caches a state reply {state, gen, fails, retry ms} read at now and
// reports a change of state. A Redis that answers also ends a fallback
// period.
func (b *SharedBreaker) store(v []int64, now time.Time) sharedSnap {
	s := sharedSnap{state: State(v[0]), gen: v[1], fails: v[2], retry: time.Duration(v[3]) * time.Millisecond, at: now}
	b.mu.Lock()
	b.snap, b.downUntil = s, time.Time{}
	// Generations only grow (a lost hash restarts them at the server
	// time), so a reply older than what was seen is stale.
	changed := false
	if s.gen != 0 && s.gen >= b.seenGen {
		if s.state != b.seen && b.cfg.OnStateChange != nil {
			b.notes.add(b.seen, s.state)
			changed = true
		}
		b.seen, b.seenGen = s.state, s.gen
	}
	b.mu.Unlock()
	if changed {
		b.notes.flush(b.name, b.cfg.OnStateChange)
	}
	return s
}

// openPeriod returns OpenTimeout spread by OpenJitter, at least 1ms.
func (b *SharedBreaker) openPeriod() time.Duration {
	d, j := b.cfg.OpenTimeout, b.cfg.OpenJitter
	if j > 0 {
		f := time.Duration(float64(d) * j)
		d = backoff.Add(d-f, 2*f, b.cfg.Rand())
	}
	return max(d, time.Millisecond)
}

// Check reports whether Call would admit a call now, without taking the
// probe slot: nil, or an *OpenError saying when to come back. While Redis is
// unreachable it answers as State does.
func (b *SharedBreaker) Check(ctx context.Context) error {
	st, err := b.State(ctx)
	if st != StateOpen {
		return nil
	}
	b.mu.Lock()
	retry := max(b.snap.retry-b.cfg.Now().Sub(b.snap.at), 0)
	b.mu.Unlock()
	if err != nil {
		retry = b.cfg.RedisRetry
	}
	oe := &OpenError{Dependency: b.name, RetryAfter: retry}
	if err != nil {
		return fmt.Errorf("%w: %w", oe, err)
	}
	return oe
}

// snapshot returns the state this replica acts on, without a round trip
// (a metrics scrape must never wait for Redis): the last state read from
// Redis, half-open once a known open period is over (as Redis will say at
// the next call), or, while Redis is unreachable, the fallback's: the
// local breaker's under FailOpenLocal, open under FailClosed.
func (b *SharedBreaker) snapshot() Snapshot {
	now := b.cfg.Now()
	b.mu.Lock()
	s := Snapshot{Dependency: b.name, Shared: true, State: b.seen, Generation: uint64(max(b.seenGen, 0))}
	down := now.Before(b.downUntil)
	if snap := b.snap; !down && snap.gen == b.seenGen && snap.state == StateOpen {
		if left := snap.retry - now.Sub(snap.at); left > 0 {
			s.RetryAfter = left
		} else {
			s.State = StateHalfOpen
		}
	}
	b.mu.Unlock()
	if down {
		s.State = StateOpen
		if b.cfg.OnRedisError == FailOpenLocal {
			s.State = b.local.State()
		}
	}
	return s
}
