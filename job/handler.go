package job

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jobrunner/jobrunner/internal/jobctx"
)

// What a handler calls, in one place. A handler returns nil to complete
// its job, any error to fail the attempt (retried with the job's backoff),
// or one of the errors below to say more.

// Permanent marks err as not worth retrying: the job is archived at once,
// and breakers do not count it against a dependency. Validation errors are
// permanent already. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Permanent() bool { return true }

// RetryAfter attaches the callee's hint of when to try again (a 429's or
// 503's Retry-After) to err: the job's next attempt waits d instead of its
// backoff (capped by the runner, 1h by default), and an inline retry
// (resilience.Do) waits it too. RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, d: d}
}

type retryAfterError struct {
	err error
	d   time.Duration
}

func (e *retryAfterError) Error() string                 { return e.err.Error() }
func (e *retryAfterError) Unwrap() error                 { return e.err }
func (e *retryAfterError) RetryAfterHint() time.Duration { return e.d }

// DeferError reschedules a job that did not run, or ran only in part: it
// is not a failure, spends no attempt and is never archived for itself
// (the runner's MaxDeferral bounds how long a job may keep deferring).
type DeferError struct {
	// Reason is a short snake_case word, logged as reason=... and used as
	// the reason label of jobrunner_jobs_deferred_total.
	Reason string
	// After is the delay before the job runs again.
	After time.Duration
	// Err is the cause, if any.
	Err error
}

// Defer returns a *DeferError: the job runs again after the delay,
// without spending an attempt.
func Defer(reason string, after time.Duration, err error) error {
	return &DeferError{Reason: reason, After: after, Err: err}
}

func (e *DeferError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("deferred (%s) for %v: %v", e.Reason, e.After, e.Err)
	}
	return fmt.Sprintf("deferred (%s) for %v", e.Reason, e.After)
}

func (e *DeferError) Unwrap() error { return e.Err }

// Neutral reports that a deferral says nothing about a dependency's health.
func (e *DeferError) Neutral() bool { return true }

// ErrInterrupted is returned by a handler that stopped early on purpose,
// after Draining fired: the job is requeued without spending an attempt.
var ErrInterrupted = errors.New("job: interrupted")

// ErrShutdown is the cause of a job context cancelled in the hard phase of
// a drain (context.Cause(ctx) returns it). A handler that returns because
// of it, with whatever error, is requeued without spending an attempt.
var ErrShutdown = errors.New("job: worker shutting down")

// Draining returns a channel that is closed when the worker running the
// job starts to drain. A long handler can watch it, checkpoint, and return
// ErrInterrupted to be requeued without spending an attempt:
//
//	select {
//	case <-job.Draining(ctx):
//		saveProgress()
//		return job.ErrInterrupted
//	case item := <-work:
//		...
//	}
//
// The context is not cancelled until the hard phase, so the handler can
// still reach its dependencies while it checkpoints. Outside a job Draining
// returns nil, a channel that never fires.
func Draining(ctx context.Context) <-chan struct{} {
	if a := jobctx.From(ctx); a != nil {
		return a.Draining()
	}
	return nil
}

// WriteResult records the job's result bytes: asynq keeps them with the
// task (read them with asynq's Inspector, or `enqueue --wait`, when the
// task has a retention), and a job with a dedupe key keeps them in its
// completed record, so a duplicate skipped later completes with the same
// result. Calling it again replaces the result. Outside a job it returns
// an error.
func WriteResult(ctx context.Context, b []byte) error {
	a := jobctx.From(ctx)
	if a == nil {
		return errors.New("job: WriteResult outside a job's context")
	}
	return a.WriteResult(b)
}

// Fence returns the fencing token of the lock the job holds: a number that
// strictly increases from grant to grant of the lock's key. A resource the
// lock protects must refuse a write whose fence is not larger than the last
// one it accepted, so that a holder whose lease expired under a pause can
// do no harm:
//
//	UPDATE accounts SET ..., fence = $fence WHERE id = $id AND fence < $fence
//
// ok is false outside a job or for a job without a lock.
func Fence(ctx context.Context) (fence int64, ok bool) {
	if a := jobctx.From(ctx); a != nil {
		return a.Fence()
	}
	return 0, false
}

// Call runs fn as a call to the dependency dep, guarded by dep's circuit
// breaker: while the breaker is open fn is not run and the job is deferred
// until the breaker lets a probe through; otherwise fn's outcome is
// recorded against dep (permanent and neutral errors excepted). Calls nest:
// a job whose single declared dependency is dep already runs as one call
// to it, and Calls for dep inside it are not recorded twice. Outside a job
// Call just runs fn.
func Call(ctx context.Context, dep string, fn func(ctx context.Context) error) error {
	if a := jobctx.From(ctx); a != nil {
		return a.Call(ctx, dep, fn)
	}
	return fn(ctx)
}

// CallValue is Call for a function that returns a value as well.
func CallValue[T any](ctx context.Context, dep string, fn func(ctx context.Context) (T, error)) (T, error) {
	var v T
	err := Call(ctx, dep, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	})
	return v, err
}
