package resilience

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrOpen is matched by every *OpenError, so errors.Is(err, ErrOpen) reports
// whether a call was refused by a breaker. Use errors.As with *OpenError to read
// the dependency and the retry-after duration.
var ErrOpen = errors.New("resilience: breaker open")

// OpenError is returned when a breaker refuses a call: it is open, or it is
// half-open and every probe slot is taken. It is neutral for breakers and never
// retried inline, because retrying immediately cannot succeed.
type OpenError struct {
	// Dependency is the name of the breaker that refused the call.
	Dependency string
	// RetryAfter is how long until the breaker will admit a probe. A job that
	// was refused should be rescheduled after this (plus some jitter), not
	// failed.
	RetryAfter time.Duration
}

// Error implements error.
func (e *OpenError) Error() string {
	return fmt.Sprintf("resilience: breaker %q is open, retry after %s", e.Dependency, e.RetryAfter)
}

// Is reports whether target is ErrOpen.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// retryAfterHint returns the retry-after duration, so RetryAfterHint reads it.
func (e *OpenError) retryAfterHint() time.Duration { return e.RetryAfter }

// ExhaustedError is returned by Do when it stops retrying a retryable error:
// every attempt failed, or the next wait would not fit before the context's
// deadline. errors.Unwrap returns Last, so classification (IsRetryable,
// Classify) and errors.Is/As see the last attempt's error.
type ExhaustedError struct {
	// Attempts is the number of times the function was called.
	Attempts int
	// Last is the error returned by the last attempt.
	Last error
}

// Error implements error.
func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("resilience: gave up after %d attempts: %v", e.Attempts, e.Last)
}

// Unwrap returns the last attempt's error.
func (e *ExhaustedError) Unwrap() error { return e.Last }

// permanentError marks an error as not worth retrying.
type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }

// Permanent marks err as permanent: Do returns it at once, IsRetryable reports
// false and breakers treat it as neutral, because the callee is healthy and the
// request itself is wrong. The returned error wraps err. Permanent(nil) returns
// nil.
//
// Error types of other packages can opt in without wrapping by implementing
// interface{ Permanent() bool } (job validation errors do).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether the first error in err's chain that implements
// interface{ Permanent() bool } returns true. A wrapper returning false
// therefore overrides a permanent error it wraps.
func IsPermanent(err error) bool {
	p, ok := find[interface{ Permanent() bool }](err)
	return ok && p.Permanent()
}

// isNeutralMarked reports whether the first error in err's chain that
// implements interface{ Neutral() bool } returns true.
func isNeutralMarked(err error) bool {
	n, ok := find[interface{ Neutral() bool }](err)
	return ok && n.Neutral()
}

// find returns the first error in err's chain that implements T, walking the
// chain depth-first like errors.As. Unlike errors.As it does not allocate,
// which keeps Classify and RetryAfterHint allocation-free on hot paths. It
// does not consult As methods; none of the markers needs them.
func find[T any](err error) (T, bool) {
	for err != nil {
		if t, ok := err.(T); ok {
			return t, true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if t, ok := find[T](e); ok {
					return t, true
				}
			}
			err = nil
		default:
			err = nil
		}
	}
	var zero T
	return zero, false
}

// retryAfterError carries a retry-after hint from the callee.
type retryAfterError struct {
	err error
	d   time.Duration
}

func (e *retryAfterError) Error() string                 { return e.err.Error() }
func (e *retryAfterError) Unwrap() error                 { return e.err }
func (e *retryAfterError) retryAfterHint() time.Duration { return e.d }

// RetryAfter attaches a retry-after hint to err, typically taken from an HTTP
// Retry-After header: Policy.NextDelay (and so Do and job-level retries) waits
// d instead of the computed backoff, capped by Policy.MaxRetryAfter. The
// returned error wraps err and is classified like err. A negative d is
// treated as zero. RetryAfter(nil, d) returns nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, d: max(d, 0)}
}

// RetryAfterHint returns the retry-after hint carried by err: the duration
// given to RetryAfter, or an *OpenError's RetryAfter, whichever comes first in
// err's chain. ok is false when err carries no hint.
func RetryAfterHint(err error) (d time.Duration, ok bool) {
	h, ok := find[interface{ retryAfterHint() time.Duration }](err)
	if !ok {
		return 0, false
	}
	return h.retryAfterHint(), true
}

// Classify maps the result of a call to a breaker outcome. It is the default
// for BreakerConfig.Classify. A nil error is a success. These errors are
// neutral, because they say nothing about the dependency's health:
//
//   - context.Canceled (the caller gave up, for example on shutdown);
//   - permanent errors (Permanent, or interface{ Permanent() bool } returning
//     true): the request was wrong, not the callee;
//   - *OpenError: the call never reached the dependency;
//   - any error in whose chain interface{ Neutral() bool } returns true (the
//     runner's lock-lost and shutdown errors).
//
// Every other error is a failure, including context.DeadlineExceeded: a
// dependency that does not answer in time is unhealthy.
func Classify(err error) Outcome {
	switch {
	case err == nil:
		return OutcomeSuccess
	case errors.Is(err, context.Canceled),
		errors.Is(err, ErrOpen),
		IsPermanent(err),
		isNeutralMarked(err):
		return OutcomeNeutral
	default:
		return OutcomeFailure
	}
}

// IsRetryable reports whether retrying the call that returned err may help.
// It is the default for Policy.Retryable. These are not retryable: nil,
// context.Canceled and context.DeadlineExceeded, permanent errors, *OpenError
// (the breaker says when to come back: reschedule instead) and errors marked
// neutral with interface{ Neutral() bool } (a lost lock or a shutdown must stop
// the work, not repeat it). Everything else is retryable.
//
// Note that a per-attempt timeout surfaces as context.DeadlineExceeded and is
// therefore not retried by default; set Policy.Retryable to change that.
func IsRetryable(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, context.Canceled),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, ErrOpen),
		IsPermanent(err),
		isNeutralMarked(err):
		return false
	default:
		return true
	}
}
