package resilience

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/jobrunner/jobrunner/internal/backoff"
)

// Defaults for Backoff.
const (
	BaseDelayDefault  = time.Second
	MaxDelayDefault   = 60 * time.Second
	MultiplierDefault = 2.0
)

// Backoff computes exponentially growing delays with full jitter: the delay
// before retry n (counting from 0) is uniformly random in
// [0, min(Max, Base × Multiplier^n)), the "full jitter" of the AWS
// architecture study, which spreads retries best. Jitter is applied to the
// capped value and the result is clamped again, so a delay never exceeds Max
// and is never negative, for any n. The zero value is ready to use.
type Backoff struct {
	// Base is the delay ceiling before the first retry. Defaults to
	// BaseDelayDefault (1s).
	Base time.Duration
	// Max caps every delay. Defaults to MaxDelayDefault (60s).
	Max time.Duration
	// Multiplier is the growth of the ceiling per retry, at least 1.
	// Defaults to MultiplierDefault (2).
	Multiplier float64
	// NoJitter turns jitter off: each delay is then exactly
	// min(Max, Base × Multiplier^n). Defaults to false (full jitter), which
	// is what you want unless a test needs exact delays.
	NoJitter bool
	// Rand returns a uniformly distributed number in [0, 1). It must be safe
	// for concurrent use. Defaults to math/rand/v2.Float64.
	Rand func() float64
}

// withDefaults returns a copy of b with every zero field set to its default.
func (b Backoff) withDefaults() Backoff {
	b.Base = cmp.Or(b.Base, BaseDelayDefault)
	b.Max = cmp.Or(b.Max, MaxDelayDefault)
	b.Multiplier = cmp.Or(b.Multiplier, MultiplierDefault)
	if b.Rand == nil {
		b.Rand = rand.Float64
	}
	return b
}

// validate reports the first invalid field of a backoff with defaults applied.
func (b Backoff) validate() error {
	switch {
	case b.Base < 0:
		return fmt.Errorf("resilience: Backoff.Base must not be negative, got %s", b.Base)
	case b.Max < b.Base:
		return fmt.Errorf("resilience: Backoff.Max (%s) must be at least Base (%s)", b.Max, b.Base)
	case !(b.Multiplier >= 1) || math.IsInf(b.Multiplier, 1):
		return fmt.Errorf("resilience: Backoff.Multiplier must be a finite number >= 1, got %v", b.Multiplier)
	}
	return nil
}

// Validate reports whether b, with defaults applied, is usable. The error
// names the offending field.
func (b Backoff) Validate() error { return b.withDefaults().validate() }

// Delay returns the delay before retry number retried, counting from 0 (the
// wait after the first failed attempt). It matches asynq's RetryDelayFunc,
// whose first argument is the number of times the task was already retried,
// so it can serve as a job-level retry delay. A negative retried counts as 0.
//
// Delay never panics and does not allocate; even with an invalid Backoff the
// result stays within [0, max(Max, 0)].
func (b Backoff) Delay(retried int) time.Duration {
	r := 1.0
	if !b.NoJitter {
		if b.Rand != nil {
			r = b.Rand()
		} else {
			r = rand.Float64()
		}
	}
	return backoff.Exponential(retried, cmp.Or(b.Base, BaseDelayDefault), cmp.Or(b.Max, MaxDelayDefault),
		cmp.Or(b.Multiplier, MultiplierDefault), r)
}
