package resilience

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"time"
)

// TripRule selects how a closed breaker decides to open.
type TripRule uint8

const (
	// TripConsecutive opens the breaker after FailureThreshold consecutive
	// failures. A success resets the streak; neutral outcomes leave it alone.
	TripConsecutive TripRule = iota + 1
	// TripFailureRate opens the breaker when, over the rolling Window, at
	// least MinCalls outcomes were recorded and the share of failures among
	// them reaches FailureRate (the resilience4j rule). It suits
	// dependencies with enough traffic that a streak is a poor signal.
	TripFailureRate
)

// String returns "consecutive" or "failure-rate".
func (r TripRule) String() string {
	switch r {
	case TripConsecutive:
		return "consecutive"
	case TripFailureRate:
		return "failure-rate"
	default:
		return fmt.Sprintf("TripRule(%d)", uint8(r))
	}
}

// Defaults for BreakerConfig.
const (
	FailureThresholdDefault = 5
	SuccessThresholdDefault = 3
	HalfOpenMaxCallsDefault = 3
	OpenTimeoutDefault      = 60 * time.Second
	OpenJitterDefault       = 0.1
	FailureRateDefault      = 0.5
	WindowDefault           = 60 * time.Second
	WindowBucketsDefault    = 10
	MinCallsDefault         = 20
)

// maxFailureThreshold is the largest streak the breaker's state word can count.
const maxFailureThreshold = cfMask >> cfShift

// BreakerConfig tunes a Breaker. The zero value is a valid configuration: every
// zero field takes the documented default.
type BreakerConfig struct {
	// Trip selects the rule that opens a closed breaker. Defaults to
	// TripConsecutive.
	Trip TripRule

	// FailureThreshold is the number of consecutive failures that opens the
	// breaker under TripConsecutive. Defaults to FailureThresholdDefault (5).
	FailureThreshold int

	// FailureRate is the share of failures, in (0, 1], that opens the breaker
	// under TripFailureRate. Defaults to FailureRateDefault (0.5).
	FailureRate float64
	// Window is the span of the rolling window under TripFailureRate.
	// Outcomes older than Window (give or take one bucket) are forgotten.
	// Defaults to WindowDefault (60s).
	Window time.Duration
	// WindowBuckets is the number of buckets Window is divided into; more
	// buckets forget old outcomes more smoothly. Defaults to
	// WindowBucketsDefault (10).
	WindowBuckets int
	// MinCalls is the number of outcomes the window must hold before the
	// failure rate is considered, so one failure of one call does not open
	// the breaker. Defaults to MinCallsDefault (20).
	MinCalls int

	// OpenTimeout is how long the breaker stays open before it admits probes
	// (half-open). Defaults to OpenTimeoutDefault (60s).
	OpenTimeout time.Duration
	// OpenJitter spreads each open period uniformly over OpenTimeout ×
	// (1 ± OpenJitter), so that replicas which opened together do not all
	// probe at the same instant. Must be below 1. Defaults to
	// OpenJitterDefault (0.1); set it negative to disable jitter.
	OpenJitter float64

	// HalfOpenMaxCalls is the number of probes admitted in one half-open
	// period. A probe whose outcome is neutral gives its slot back. Defaults
	// to HalfOpenMaxCallsDefault (3).
	HalfOpenMaxCalls int
	// SuccessThreshold is the number of successful probes that closes a
	// half-open breaker; a single failed probe opens it again. It must not
	// exceed HalfOpenMaxCalls. Defaults to SuccessThresholdDefault (3).
	SuccessThreshold int
	// HalfOpenMaxWait guards against a breaker stuck in half-open because
	// admitted probes never report: when every probe slot is taken and no
	// probe was admitted or reported for HalfOpenMaxWait, the breaker opens
	// again, and the next half-open period starts with fresh slots. Defaults
	// to OpenTimeout.
	HalfOpenMaxWait time.Duration

	// Classify maps errors to outcomes for Breaker.Record and Call. Defaults
	// to the package's Classify.
	Classify func(err error) Result
	// OnStateChange, if set, is called after every state change with the
	// breaker's name. It runs outside the breaker's lock, so it may call the
	// breaker, and calls for one breaker are delivered one at a time in the
	// order the changes happened. Defaults to nil (no callback).
	OnStateChange func(name string, from, to State)
	// Now tells the time; tests inject a fake clock's Now. Defaults to
	// time.Now.
	Now func() time.Time
	// Rand returns a uniformly distributed number in [0, 1) for the open
	// period jitter. It is called under the breaker's lock and must be safe
	// for concurrent use. Defaults to math/rand/v2.Float64.
	Rand func() float64
}

// withDefaults returns a copy of c with every zero field set to its default.
func (c BreakerConfig) withDefaults() BreakerConfig {
	c.Trip = cmp.Or(c.Trip, TripConsecutive)
	c.FailureThreshold = cmp.Or(c.FailureThreshold, FailureThresholdDefault)
	c.FailureRate = cmp.Or(c.FailureRate, FailureRateDefault)
	c.Window = cmp.Or(c.Window, WindowDefault)
	c.WindowBuckets = cmp.Or(c.WindowBuckets, WindowBucketsDefault)
	c.MinCalls = cmp.Or(c.MinCalls, MinCallsDefault)
	c.OpenTimeout = cmp.Or(c.OpenTimeout, OpenTimeoutDefault)
	c.OpenJitter = cmp.Or(c.OpenJitter, OpenJitterDefault)
	c.HalfOpenMaxCalls = cmp.Or(c.HalfOpenMaxCalls, HalfOpenMaxCallsDefault)
	c.SuccessThreshold = cmp.Or(c.SuccessThreshold, SuccessThresholdDefault)
	c.HalfOpenMaxWait = cmp.Or(c.HalfOpenMaxWait, c.OpenTimeout)
	if c.Classify == nil {
		c.Classify = Classify
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	return c
}

// validate reports the first invalid field of a config with defaults applied.
func (c BreakerConfig) validate() error {
	switch {
	case c.Trip != TripConsecutive && c.Trip != TripFailureRate:
		return fmt.Errorf("resilience: BreakerConfig.Trip: unknown rule %d", c.Trip)
	case c.FailureThreshold < 1 || c.FailureThreshold > maxFailureThreshold:
		return fmt.Errorf("resilience: BreakerConfig.FailureThreshold must be in [1, %d], got %d", maxFailureThreshold, c.FailureThreshold)
	case !(c.FailureRate > 0 && c.FailureRate <= 1):
		return fmt.Errorf("resilience: BreakerConfig.FailureRate must be in (0, 1], got %v", c.FailureRate)
	case c.Window <= 0:
		return fmt.Errorf("resilience: BreakerConfig.Window must be positive, got %s", c.Window)
	case c.WindowBuckets < 1 || c.WindowBuckets > 1000:
		return fmt.Errorf("resilience: BreakerConfig.WindowBuckets must be in [1, 1000], got %d", c.WindowBuckets)
	case c.Window < time.Duration(c.WindowBuckets):
		return fmt.Errorf("resilience: BreakerConfig.Window (%s) is shorter than WindowBuckets (%d) nanoseconds", c.Window, c.WindowBuckets)
	case c.MinCalls < 1:
		return fmt.Errorf("resilience: BreakerConfig.MinCalls must be at least 1, got %d", c.MinCalls)
	case c.OpenTimeout <= 0:
		return fmt.Errorf("resilience: BreakerConfig.OpenTimeout must be positive, got %s", c.OpenTimeout)
	case !(c.OpenJitter < 1): // Also rejects NaN.
		return fmt.Errorf("resilience: BreakerConfig.OpenJitter must be below 1, got %v", c.OpenJitter)
	case c.HalfOpenMaxCalls < 1:
		return fmt.Errorf("resilience: BreakerConfig.HalfOpenMaxCalls must be at least 1, got %d", c.HalfOpenMaxCalls)
	case c.SuccessThreshold < 1 || c.SuccessThreshold > c.HalfOpenMaxCalls:
		return fmt.Errorf("resilience: BreakerConfig.SuccessThreshold must be in [1, HalfOpenMaxCalls=%d], got %d", c.HalfOpenMaxCalls, c.SuccessThreshold)
	case c.HalfOpenMaxWait <= 0:
		return fmt.Errorf("resilience: BreakerConfig.HalfOpenMaxWait must be positive, got %s", c.HalfOpenMaxWait)
	}
	return nil
}

// Validate reports whether c, with defaults applied, is usable. The error
// names the offending field.
func (c BreakerConfig) Validate() error { return c.withDefaults().validate() }

// merge returns c with every zero field taken from base. Registry uses it so
// a per-dependency override only needs the fields it changes.
func (c BreakerConfig) merge(base BreakerConfig) BreakerConfig {
	c.Trip = cmp.Or(c.Trip, base.Trip)
	c.FailureThreshold = cmp.Or(c.FailureThreshold, base.FailureThreshold)
	c.FailureRate = cmp.Or(c.FailureRate, base.FailureRate)
	c.Window = cmp.Or(c.Window, base.Window)
	c.WindowBuckets = cmp.Or(c.WindowBuckets, base.WindowBuckets)
	c.MinCalls = cmp.Or(c.MinCalls, base.MinCalls)
	c.OpenTimeout = cmp.Or(c.OpenTimeout, base.OpenTimeout)
	c.OpenJitter = cmp.Or(c.OpenJitter, base.OpenJitter)
	c.HalfOpenMaxCalls = cmp.Or(c.HalfOpenMaxCalls, base.HalfOpenMaxCalls)
	c.SuccessThreshold = cmp.Or(c.SuccessThreshold, base.SuccessThreshold)
	c.HalfOpenMaxWait = cmp.Or(c.HalfOpenMaxWait, base.HalfOpenMaxWait)
	if c.Classify == nil {
		c.Classify = base.Classify
	}
	if c.OnStateChange == nil {
		c.OnStateChange = base.OnStateChange
	}
	if c.Now == nil {
		c.Now = base.Now
	}
	if c.Rand == nil {
		c.Rand = base.Rand
	}
	return c
}
