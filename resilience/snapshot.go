package resilience

import "time"

// Snapshot is a point-in-time view of a breaker, for metrics and debugging.
type Snapshot struct {
	// Dependency is the breaker's name.
	Dependency string
	// Shared is true for a shared breaker (RegistryConfig.Shared), whose
	// snapshot is this process's last reading of its state in Redis
	// (ReadShared reads it afresh).
	Shared bool
	// State is the current state.
	State State
	// Generation counts state changes and resets since the breaker was built.
	Generation uint64
	// RetryAfter is how long until a call would be admitted; zero when Call
	// would admit one now.
	RetryAfter time.Duration
	// ConsecutiveFailures is the current failure streak of a closed breaker
	// under TripConsecutive.
	ConsecutiveFailures int
	// HalfOpenAdmitted and HalfOpenSuccesses count the probes holding a slot
	// and the successful probes of the current half-open period.
	HalfOpenAdmitted, HalfOpenSuccesses int
	// WindowCalls and WindowFailures are the outcomes in the rolling window
	// of a closed breaker under TripFailureRate.
	WindowCalls, WindowFailures int
}

// Snapshot returns the breaker's current state and counts, after any
// transition that is due.
func (b *Breaker) Snapshot() Snapshot {
	b.mu.Lock()
	now := b.cfg.Now()
	changed := b.advanceLocked(now)
	w := b.word.Load()
	s := Snapshot{
		Dependency:          b.name,
		State:               stateOf(w),
		Generation:          w >> genShift,
		ConsecutiveFailures: int((w & cfMask) >> cfShift),
		HalfOpenAdmitted:    b.halfOpenAdmitted,
		HalfOpenSuccesses:   b.halfOpenSuccesses,
	}
	if s.State == StateOpen || s.State == StateHalfOpen && b.halfOpenAdmitted >= b.cfg.HalfOpenMaxCalls {
		s.RetryAfter = b.retryAfterLocked(w, now)
	}
	if b.win != nil && s.State == StateClosed {
		s.WindowCalls, s.WindowFailures = b.win.stats(now)
	}
	b.mu.Unlock()
	if changed {
		b.flush()
	}
	return s
}
