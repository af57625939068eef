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

// RetryAfterHint returns RetryAfter: an open breaker is a hint of when to
// try again.
func (e *OpenError) RetryAfterHint() time.Duration { return e.RetryAfter }

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

// The contracts an error can implement to steer Do, IsRetryable, Classify
// and the runner, wherever it sits in an error's chain. package job makes
// such errors for handlers (job.Permanent, job.RetryAfter); any error type
// can implement them itself.
type (
	// PermanentError is an error that retrying cannot fix: the request is
	// wrong, not the callee. Do returns it at once, IsRetryable reports
	// false, Classify calls it neutral and the runner archives the job.
	// job.Permanent makes one; job validation errors are.
	PermanentError interface {
		error
		Permanent() bool
	}
	// NeutralError says nothing about a dependency's health (a lost lock,
	// a shutdown, a deferral): breakers ignore it and Do does not retry it.
	NeutralError interface {
		error
		Neutral() bool
	}
	// RetryAfterError carries the callee's hint of when to try again:
	// Policy.nextDelay (and so Do) and the runner's job retries wait that
	// long instead of their backoff, up to their cap. job.RetryAfter makes
	// one; *OpenError is one.
	RetryAfterError interface {
		error
		RetryAfterHint() time.Duration
	}
)

// IsPermanent reports whether the first PermanentError in err's chain
// returns true. A wrapper returning false therefore overrides a permanent
// error it wraps.
func IsPermanent(err error) bool {
	p, ok := find[PermanentError](err)
	return ok && p.Permanent()
}

// isNeutralMarked reports whether the first NeutralError in err's chain
// returns true.
func isNeutralMarked(err error) bool {
	n, ok := find[NeutralError](err)
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

// RetryAfterHint returns the hint of the first RetryAfterError in err's
// chain (job.RetryAfter's duration, an *OpenError's RetryAfter), never
// negative. ok is false when err carries no hint.
func RetryAfterHint(err error) (d time.Duration, ok bool) {
	h, ok := find[RetryAfterError](err)
	if !ok {
		return 0, false
	}
	return max(h.RetryAfterHint(), 0), true
}

// Classify maps the error of a call to its Result for a breaker. It is the default
// for BreakerConfig.Classify. A nil error is a success. These errors are
// neutral, because they say nothing about the dependency's health:
//
//   - context.Canceled (the caller gave up, for example on shutdown);
//   - a PermanentError: the request was wrong, not the callee;
//   - *OpenError: the call never reached the dependency;
//   - a NeutralError (a lost lock, a shutdown, a deferral).
//
// Every other error is a failure, including context.DeadlineExceeded: a
// dependency that does not answer in time is unhealthy.
func Classify(err error) Result {
	switch {
	case err == nil:
		return Success
	case errors.Is(err, context.Canceled),
		errors.Is(err, ErrOpen),
		IsPermanent(err),
		isNeutralMarked(err):
		return Neutral
	default:
		return Failure
	}
}

// IsRetryable reports whether retrying the call that returned err may help.
// It is the default for Policy.Retryable. These are not retryable: nil,
// context.Canceled and context.DeadlineExceeded, permanent errors, *OpenError
// (the breaker says when to come back: reschedule instead) and NeutralErrors
// (a lost lock or a shutdown must stop the work, not repeat it). Everything else is retryable.
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
