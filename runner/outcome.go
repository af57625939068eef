package runner

import (
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
)

// outcome is how an attempt ended, as logged (event=job.<outcome>) and
// counted (jobrunner_jobs_total{outcome}).
type outcome string

// The outcomes of an attempt.
const (
	outcomeDone     outcome = "done"
	outcomeFailed   outcome = "failed"
	outcomeSkipped  outcome = "skipped"
	outcomeDeferred outcome = "deferred"
)

// Reasons attached to deferred, skipped and failed attempts.
const (
	reasonInterrupted    = "interrupted"
	reasonInvalidPayload = "invalid_payload"
	reasonUnknownType    = "unknown_type"
	reasonPanic          = "panic"
)

// deferral reschedules a job that did not run: not a failure, no attempt
// counted. Handlers defer with job.Defer; the runner's own deferrals carry
// log attributes and may grow their delay with each deferral.
type deferral struct {
	// DeferError is what a handler's job.Defer says too: the reason, the
	// delay and the cause. Its Error, Unwrap and Neutral are the
	// deferral's.
	job.DeferError
	// Attrs are extra log fields, e.g. {"dependency": "payment-api"}.
	Attrs map[string]string

	// grow, when set, computes After from the number of deferrals of the
	// job so far (1 for the first), which the deferral-bound layer learns.
	grow func(deferrals int) time.Duration
}

// newDeferral returns a *deferral.
func newDeferral(reason string, after time.Duration, err error) *deferral {
	return &deferral{DeferError: job.DeferError{Reason: reason, After: after, Err: err}}
}

// skipError completes a job without running it, e.g. a duplicate of one
// already done.
type skipError struct{ Reason string }

// skip returns a *skipError.
func skip(reason string) *skipError { return &skipError{Reason: reason} }

func (e *skipError) Error() string { return "skipped: " + e.Reason }

// panicError is a handler panic turned into an error.
type panicError struct {
	Value any
	Stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Neutral reports that a panic says nothing about a dependency's health: it
// is a bug of the handler (a breaker's Call treats panics the same way).
func (e *panicError) Neutral() bool { return true }

// reasonError attaches a reason to a failure; it is used for failures the
// runner itself detects (bad payload, unknown type).
type reasonError struct {
	Reason string
	Err    error
}

func (e *reasonError) Error() string { return e.Err.Error() }
func (e *reasonError) Unwrap() error { return e.Err }

// asDeferral returns the deferral err stands for, if any.
func asDeferral(err error) (*deferral, bool) {
	if err == nil {
		return nil, false
	}
	var d *deferral
	if errors.As(err, &d) {
		return d, true
	}
	var jd *job.DeferError
	if errors.As(err, &jd) {
		return &deferral{DeferError: *jd}, true
	}
	if errors.Is(err, job.ErrInterrupted) {
		return &deferral{DeferError: job.DeferError{Reason: reasonInterrupted, Err: err}}, true
	}
	return nil, false
}

// permanent reports errors that archive the task at once.
func permanent(err error) bool {
	return errors.Is(err, asynq.SkipRetry) || resilience.IsPermanent(err)
}

// outcomeOf names the outcome of err and its reason, if any.
func outcomeOf(err error) (outcome, string) {
	if err == nil {
		return outcomeDone, ""
	}
	var s *skipError
	if errors.As(err, &s) {
		return outcomeSkipped, s.Reason
	}
	if d, ok := asDeferral(err); ok {
		return outcomeDeferred, d.Reason
	}
	var pe *panicError
	if errors.As(err, &pe) {
		return outcomeFailed, reasonPanic
	}
	var re *reasonError
	if errors.As(err, &re) {
		return outcomeFailed, re.Reason
	}
	return outcomeFailed, ""
}
