package backoff

import (
	"math"
	"time"
)

// Exponential returns a full-jitter delay for retry n (counting from 0):
// r × min(hi, base × m^n), clamped to [0, hi] after jittering, so that a
// draw outside [0, 1) can never push it past hi or below zero. m below 1
// counts as 1, a negative n as 0. With r = 1 it returns the ceiling itself
// (no jitter).
func Exponential(n int, base, hi time.Duration, m, r float64) time.Duration {
	if hi <= 0 {
		return 0
	}
	return clamp(Ceiling(n, float64(max(base, 0)), max(m, 1), float64(hi))*r, hi)
}

// Ceiling returns min(hi, base × m^n) for n >= 0 in float64, where an
// overflow becomes +Inf and is caught by the comparison with hi (as is a
// NaN from a bad multiplier), so n may be as large as you like.
func Ceiling(n int, base, m, hi float64) float64 {
	n = max(n, 0)
	var ceil float64
	switch {
	case m == 2 && n < 64:
		ceil = base * float64(uint64(1)<<n) // the common case, exact and cheap
	case n <= 32:
		// A few multiplications, stopping at the cap, beat math.Pow.
		ceil = base
		for ; n > 0 && ceil < hi; n-- {
			ceil *= m
		}
	default:
		ceil = base * math.Pow(m, float64(n))
	}
	if !(ceil < hi) {
		return hi
	}
	return ceil
}

// Polynomial returns the delay before retry n (counting from 0) of the
// long job-retry schedule: 15s + n⁴ seconds + r × 30s × (n+1). It is the
// shape asynq, Sidekiq and River use: the first retries come within a
// minute or two, and 25 retries span about three weeks, so that an outage
// of a day or a weekend does not exhaust them. n is capped at 1000.
func Polynomial(n int, r float64) time.Duration {
	n = min(max(n, 0), 1000)
	f := float64(n)
	secs := 15 + f*f*f*f + clampUnit(r)*30*(f+1)
	return time.Duration(secs * float64(time.Second))
}

// Add returns d plus r × extra: a jitter of up to extra on top of d, so
// that callers who wait together do not come back in lockstep. Equal
// jitter is Add(d/2, d/2, r), a spread of ±f around d is
// Add(d-f·d, 2f·d, r). Negative inputs count as zero; the sum saturates.
func Add(d, extra time.Duration, r float64) time.Duration {
	d, extra = max(d, 0), max(extra, 0)
	j := float64(extra) * clampUnit(r)
	if float64(d)+j >= math.MaxInt64 {
		return math.MaxInt64
	}
	return d + time.Duration(j)
}

func clamp(f float64, hi time.Duration) time.Duration {
	switch {
	case !(f > 0): // also catches NaN
		return 0
	case f >= float64(hi):
		return hi
	}
	return time.Duration(f)
}

func clampUnit(r float64) float64 {
	if !(r > 0) {
		return 0
	}
	return min(r, 1)
}
