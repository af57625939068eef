package lockcore

import (
	"errors"
	"fmt"
	"time"

	"github.com/jobrunner/jobrunner/internal/logkey"
)

// Limits keep a fleet of workers within what a dependency accepts: a
// concurrency cap (at most N holders at once, each holding a slot lease
// that a Renewer renews like a lock) and a rate limit (at most a number of
// starts per interval). Both are kept in Redis, timed by Redis server time,
// so every replica sees the same limit whatever its clock says.

// Rate is a rate limit: at most N starts in any window of one Per, plus
// Burst - 1 more (so the default Burst of 1 allows exactly N).
type Rate struct {
	// N is the number of starts allowed per interval; at least 1.
	N int
	// Per is the interval: time.Second, time.Minute or time.Hour, or any
	// duration of at least a millisecond.
	Per time.Duration
	// Burst is how many starts beyond N-1 a window may take. Zero means 1.
	Burst int
}

// capacity is how many starts one window admits.
func (r Rate) capacity() int { return r.N + max(r.Burst, 1) - 1 }

func (r Rate) validate() error {
	switch {
	case r.N < 1:
		return fmt.Errorf("lockstore: Rate.N must be at least 1, got %d", r.N)
	case r.Per < time.Millisecond:
		return fmt.Errorf("lockstore: Rate.Per must be at least 1ms, got %s", r.Per)
	case r.Burst < 0:
		return fmt.Errorf("lockstore: Rate.Burst must not be negative, got %d", r.Burst)
	}
	return nil
}

// String returns the rate as configured, e.g. "100/s" or "5/s burst 5".
func (r Rate) String() string {
	per := r.Per.String()
	switch r.Per {
	case time.Second:
		per = "s"
	case time.Minute:
		per = "m"
	case time.Hour:
		per = "h"
	}
	if r.Burst > 1 {
		return fmt.Sprintf("%d/%s burst %d", r.N, per, r.Burst)
	}
	return fmt.Sprintf("%d/%s", r.N, per)
}

// ErrLimited is matched by every *LimitedError.
var ErrLimited = errors.New("lockstore: limited")

// LimitedError is returned when a limit refuses: all concurrency slots are
// held, or the rate limit is reached. RetryIn says when to come back.
type LimitedError struct {
	// Key is the limit's key (the dependency).
	Key string
	// Rate is true for a rate limit, false for a concurrency cap.
	Rate bool
	// RetryIn is when a start is likely to be admitted: for a rate limit,
	// this start's place in the queue of refused starts; for a concurrency
	// cap, when the soonest holder's lease would run out unless renewed
	// (an upper bound: holders usually finish sooner).
	RetryIn time.Duration
}

func (e *LimitedError) Error() string {
	if e.Rate {
		return fmt.Sprintf("lockstore: rate limit of %q reached; next start in %s", logkey.Cap(e.Key), e.RetryIn)
	}
	return fmt.Sprintf("lockstore: concurrency limit of %q reached: every slot is held", logkey.Cap(e.Key))
}

// Is reports whether target is ErrLimited.
func (e *LimitedError) Is(target error) bool { return target == ErrLimited }

// SlotTTLDefault is the TTL of a concurrency slot lease when none is given:
// a worker that dies gives its slots back within it.
const SlotTTLDefault = 30 * time.Second
