package resilience

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobrunner/jobrunner/internal/backoff"
)

// The breaker's state word packs, from the low bits up: the state (2 bits),
// the consecutive-failure count of a closed breaker under TripConsecutive
// (20 bits) and the generation (42 bits). One atomic word lets the closed
// state admit and record without locking, and makes "same generation" and
// "update the streak" a single compare-and-swap.
const (
	stateMask = 1<<2 - 1
	cfShift   = 2
	cfBits    = 20
	cfOne     = 1 << cfShift
	cfMask    = (1<<cfBits - 1) << cfShift
	genShift  = cfShift + cfBits
)

func stateOf(w uint64) State { return State(w & stateMask) }

// Breaker is a circuit breaker for one dependency: it refuses calls while the
// dependency looks unhealthy and lets a few probes through after a while to
// find out whether it has recovered.
//
// Calls go through Call (or a Registry's Call). In the closed state
// admitting a call and recording its outcome are lock-free and
// allocation-free. Open and half-open states, and the failure-rate rule,
// take a mutex. A Breaker is safe for concurrent use; create it with
// NewBreaker or get it from a Registry.
type Breaker struct {
	// word is the state word, laid out as described above stateMask.
	word atomic.Uint64

	name      string
	cfg       BreakerConfig
	threshold uint64 // cfg.FailureThreshold, used only by TripConsecutive.

	mu                sync.Mutex
	openUntil         time.Time   // End of the current open period.
	halfOpenAdmitted  int         // Probes holding a slot in this half-open period.
	halfOpenSuccesses int         // Successful probes in this half-open period.
	halfOpenProgress  time.Time   // Last probe admission or report, or the start of half-open.
	win               *window     // Non-nil under TripFailureRate.
	notes             transitions // state changes to report to OnStateChange

	// use is marked by every admission and Check, for the Registry holding the
	// breaker, if any, to tell when it was last used.
	use useMark
}

// NewBreaker returns a closed breaker named after the dependency it guards.
// It returns an error naming the field when cfg is invalid.
func NewBreaker(name string, cfg BreakerConfig) (*Breaker, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return newBreaker(name, cfg), nil
}

// newBreaker builds a breaker from a config with defaults applied and
// validated.
func newBreaker(name string, cfg BreakerConfig) *Breaker {
	b := &Breaker{name: name, cfg: cfg, threshold: uint64(cfg.FailureThreshold)}
	if cfg.Trip == TripFailureRate {
		b.win = newWindow(cfg.Window, cfg.WindowBuckets, cfg.Now())
	}
	b.word.Store(1<<genShift | uint64(StateClosed))
	return b
}

// Name returns the breaker's name: the dependency it guards.
func (b *Breaker) Name() string { return b.name }

// Call runs fn as one call to the breaker's dependency and records its
// outcome, classified by BreakerConfig.Classify; fn's error is returned
// unchanged. If the breaker refuses, fn is not run and the error is an
// *OpenError whose RetryAfter says when a probe will be admitted. A panic in
// fn is a neutral outcome (a probe's slot is given back) and continues.
//
// In the half-open state at most HalfOpenMaxCalls probes are admitted; Call
// performs the lazy transitions (open to half-open when the open period is
// over, half-open back to open when the probes are stuck).
func (b *Breaker) Call(ctx context.Context, fn func(ctx context.Context) error) error {
	t, err := b.begin()
	if err != nil {
		return err
	}
	finished := false
	defer func() {
		if !finished {
			b.end(t, Neutral)
		}
	}()
	err = fn(ctx)
	finished = true
	b.endErr(t, err)
	return err
}

// begin asks to make one call. If the breaker admits it, the caller must
// make the call and then report its outcome exactly once with end or
// endErr, passing the ticket.
func (b *Breaker) begin() (ticket, error) {
	b.use.touch()
	if w := b.word.Load(); stateOf(w) == StateClosed {
		return ticket{gen: w >> genShift}, nil
	}
	return b.admit(true)
}

// Check reports whether Call would admit a call now, without taking a probe
// slot: it returns nil or an *OpenError. Use it to hold back work that needs a
// dependency before starting it, when the calls themselves go through Call
// later.
func (b *Breaker) Check() error {
	b.use.touch()
	if stateOf(b.word.Load()) == StateClosed {
		return nil
	}
	_, err := b.admit(false)
	return err
}

// admit is the locked path of begin (take is true) and Check.
func (b *Breaker) admit(take bool) (ticket, error) {
	b.mu.Lock()
	now := b.cfg.Now()
	changed := b.advanceLocked(now)
	w := b.word.Load()
	ok := true
	var retryAfter time.Duration
	switch stateOf(w) {
	case StateHalfOpen:
		if b.halfOpenAdmitted < b.cfg.HalfOpenMaxCalls {
			if take {
				b.halfOpenAdmitted++
				b.halfOpenProgress = now
			}
		} else {
			ok, retryAfter = false, b.retryAfterLocked(w, now)
		}
	case StateOpen:
		ok, retryAfter = false, b.retryAfterLocked(w, now)
	}
	b.mu.Unlock()
	if changed {
		b.flush()
	}
	if !ok {
		return ticket{}, &OpenError{Dependency: b.name, RetryAfter: retryAfter}
	}
	return ticket{gen: w >> genShift}, nil
}

// end reports the outcome of a call admitted by begin. Call it exactly once
// per ticket: a probe's slot is given back on a neutral outcome, so reporting
// a ticket twice can admit an extra probe. Outcomes of tickets from an older
// generation (issued before the latest state change or Reset) are ignored.
func (b *Breaker) end(t ticket, o Result) {
	w := b.word.Load()
	if w>>genShift != t.gen {
		return
	}
	if stateOf(w) == StateClosed {
		switch {
		case o != Success && o != Failure:
			return
		case b.win != nil:
			// The failure-rate rule needs the clock and the window: locked path.
		case o == Success:
			if w&cfMask != 0 {
				b.succeedClosed(w)
			}
			return
		default:
			b.failClosed(w)
			return
		}
	}
	b.doneLocked(t.gen, o)
}

// endErr reports the outcome of a call admitted by begin, classifying err
// with BreakerConfig.Classify. The same rules as for end apply.
func (b *Breaker) endErr(t ticket, err error) { b.end(t, b.cfg.Classify(err)) }

// succeedClosed resets the failure streak of generation w.
func (b *Breaker) succeedClosed(w uint64) {
	gen := w >> genShift
	for !b.word.CompareAndSwap(w, w&^cfMask) {
		w = b.word.Load()
		if w>>genShift != gen || w&cfMask == 0 {
			return
		}
	}
}

// failClosed extends the failure streak of generation w, opening the breaker
// when the streak reaches FailureThreshold. The opening is a compare-and-swap
// on the same word, so it happens only if no success reset the streak (and no
// state change happened) since w was read.
func (b *Breaker) failClosed(w uint64) {
	gen := w >> genShift
	for {
		if (w&cfMask)>>cfShift+1 >= b.threshold {
			if b.trip(w) {
				return
			}
		} else if b.word.CompareAndSwap(w, w+cfOne) {
			return
		}
		w = b.word.Load()
		if w>>genShift != gen {
			return
		}
	}
}

// trip opens the breaker if its state word is still w.
func (b *Breaker) trip(w uint64) bool {
	b.mu.Lock()
	ok := b.swapLocked(w, StateOpen, b.cfg.Now())
	b.mu.Unlock()
	if ok {
		b.flush()
	}
	return ok
}

// doneLocked records an outcome in the half-open state, or in the closed state
// under the failure-rate rule.
func (b *Breaker) doneLocked(gen uint64, o Result) {
	// Reading the clock before locking keeps the critical section short; a
	// time a little older than another goroutine's is harmless here.
	now := b.cfg.Now()
	b.mu.Lock()
	changed := false
	if w := b.word.Load(); w>>genShift == gen {
		switch stateOf(w) {
		case StateClosed:
			b.win.record(now, o == Failure)
			if o == Failure && b.win.tripped(b.cfg.MinCalls, b.cfg.FailureRate) {
				changed = b.setLocked(StateOpen, now)
			}
		case StateHalfOpen:
			b.halfOpenProgress = now
			switch o {
			case Success:
				b.halfOpenSuccesses++
				if b.halfOpenSuccesses >= b.cfg.SuccessThreshold {
					changed = b.setLocked(StateClosed, now)
				}
			case Failure:
				changed = b.setLocked(StateOpen, now)
			default:
				// A neutral or cancelled probe gives its slot back, so
				// probes that say nothing can never fill the half-open
				// period.
				b.halfOpenAdmitted = max(b.halfOpenAdmitted-1, 0)
			}
		}
	}
	b.mu.Unlock()
	if changed {
		b.flush()
	}
}

// State returns the breaker's current state, after any transition that is due
// (an open period that ended, stuck probes).
func (b *Breaker) State() State {
	if s := stateOf(b.word.Load()); s == StateClosed {
		return s
	}
	b.mu.Lock()
	changed := b.advanceLocked(b.cfg.Now())
	s := stateOf(b.word.Load())
	b.mu.Unlock()
	if changed {
		b.flush()
	}
	return s
}

// Reset closes the breaker and starts a new generation: counts are cleared
// and outcomes of calls admitted before Reset are ignored.
func (b *Breaker) Reset() {
	b.mu.Lock()
	changed := b.setLocked(StateClosed, b.cfg.Now())
	b.mu.Unlock()
	if changed {
		b.flush()
	}
}

// advanceLocked makes the lazy transitions that are due at now and reports
// whether one happened.
func (b *Breaker) advanceLocked(now time.Time) bool {
	switch stateOf(b.word.Load()) {
	case StateOpen:
		if !now.Before(b.openUntil) {
			return b.setLocked(StateHalfOpen, now)
		}
	case StateHalfOpen:
		if b.halfOpenAdmitted >= b.cfg.HalfOpenMaxCalls && now.Sub(b.halfOpenProgress) >= b.cfg.HalfOpenMaxWait {
			return b.setLocked(StateOpen, now)
		}
	}
	return false
}

// setLocked moves to state to, whatever the current word, and reports whether
// the state changed.
func (b *Breaker) setLocked(to State, now time.Time) bool {
	for {
		w := b.word.Load()
		if b.swapLocked(w, to, now) {
			return stateOf(w) != to
		}
	}
}

// swapLocked moves from state word w to state to in a new generation, if the
// word is still w. Every transition resets the half-open counters and starts
// the period of the new state. Transitions are queued for OnStateChange, which
// flush delivers once the lock is released.
func (b *Breaker) swapLocked(w uint64, to State, now time.Time) bool {
	if !b.word.CompareAndSwap(w, (w>>genShift+1)<<genShift|uint64(to)) {
		return false
	}
	b.halfOpenAdmitted, b.halfOpenSuccesses = 0, 0
	b.halfOpenProgress = now
	switch to {
	case StateOpen:
		b.openUntil = now.Add(b.openPeriodLocked())
	case StateClosed:
		if b.win != nil {
			b.win.reset(now)
		}
	}
	if from := stateOf(w); from != to && b.cfg.OnStateChange != nil {
		b.notes.add(from, to)
	}
	return true
}

// openPeriodLocked returns OpenTimeout spread by OpenJitter, at least 1ns.
func (b *Breaker) openPeriodLocked() time.Duration {
	d, j := b.cfg.OpenTimeout, b.cfg.OpenJitter
	if j <= 0 {
		return d
	}
	f := time.Duration(float64(d) * j)
	return max(backoff.Add(d-f, 2*f, b.cfg.Rand()), 1)
}

// retryAfterLocked returns how long until a refused call could be admitted.
// In the open state that is the rest of the open period. In a half-open state
// with every slot taken it is the time until the stuck-probe guard fires, at
// most a tenth of OpenTimeout, because probes usually report much sooner.
func (b *Breaker) retryAfterLocked(w uint64, now time.Time) time.Duration {
	if stateOf(w) == StateOpen {
		return max(b.openUntil.Sub(now), 0)
	}
	d := b.halfOpenProgress.Add(b.cfg.HalfOpenMaxWait).Sub(now)
	return max(min(d, b.cfg.OpenTimeout/10), 0)
}
