package runner

import (
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/resilience"
)

// Outcome is how an attempt ended, as logged (event=job.<outcome>) and
// counted (jobrunner_jobs_total{outcome}).
type Outcome string

// The outcomes of an attempt.
const (
	OutcomeDone     Outcome = "done"
	OutcomeFailed   Outcome = "failed"
	OutcomeSkipped  Outcome = "skipped"
	OutcomeDeferred Outcome = "deferred"
)

// Reasons attached to deferred, skipped and failed attempts.
const (
	ReasonInterrupted    = "interrupted"
	ReasonInvalidPayload = "invalid_payload"
	ReasonUnknownType    = "unknown_type"
	ReasonPanic          = "panic"
)

// ErrInterrupted is returned by a handler that stopped early on purpose,
// e.g. after runner.Draining fired: the job is requeued without counting an
// attempt.
var ErrInterrupted = errors.New("runner: job interrupted")

// DeferError reschedules a job that did not run: not a failure, no attempt
// counted, never archived.
type DeferError struct {
	// Reason is a short snake_case word, logged as reason=... and used as
	// the reason label of jobrunner_jobs_deferred_total.
	Reason string
	// After is the delay before the job runs again.
	After time.Duration
	// Attrs are extra log fields, e.g. {"dependency": "payment-api"}.
	Attrs map[string]string
	// Err is the cause, if any.
	Err error

	// grow, when set, computes After from the number of deferrals of the
	// job so far (1 for the first), which the deferral-bound layer learns.
	grow func(deferrals int) time.Duration
}

// Defer returns a *DeferError.
func Defer(reason string, after time.Duration, err error) *DeferError {
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

// SkipError completes a job without running it, e.g. a duplicate of one
// already done.
type SkipError struct{ Reason string }

// Skip returns a *SkipError.
func Skip(reason string) *SkipError { return &SkipError{Reason: reason} }

func (e *SkipError) Error() string { return "skipped: " + e.Reason }

// PanicError is a handler panic turned into an error.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Neutral reports that a panic says nothing about a dependency's health: it
// is a bug of the handler (resilience.Call treats panics the same way).
func (e *PanicError) Neutral() bool { return true }

// ReasonError attaches a reason to a failure; it is used for failures the
// runner itself detects (bad payload, unknown type).
type ReasonError struct {
	Reason string
	Err    error
}

func (e *ReasonError) Error() string { return e.Err.Error() }
func (e *ReasonError) Unwrap() error { return e.Err }

// asDeferral returns the deferral err stands for, if any.
func asDeferral(err error) (*DeferError, bool) {
	var d *DeferError
	if errors.As(err, &d) {
		return d, true
	}
	if errors.Is(err, ErrInterrupted) {
		return &DeferError{Reason: ReasonInterrupted, Err: err}, true
	}
	return nil, false
}

// permanent reports errors that archive the task at once.
func permanent(err error) bool {
	return errors.Is(err, asynq.SkipRetry) || resilience.IsPermanent(err)
}

// classify names the outcome of err and its reason, if any.
func classify(err error) (Outcome, string) {
	if err == nil {
		return OutcomeDone, ""
	}
	var s *SkipError
	if errors.As(err, &s) {
		return OutcomeSkipped, s.Reason
	}
	if d, ok := asDeferral(err); ok {
		return OutcomeDeferred, d.Reason
	}
	var pe *PanicError
	if errors.As(err, &pe) {
		return OutcomeFailed, ReasonPanic
	}
	var re *ReasonError
	if errors.As(err, &re) {
		return OutcomeFailed, re.Reason
	}
	return OutcomeFailed, ""
}
