package runner

import (
	"errors"

	"github.com/jobrunner/jobrunner/internal/redact"
)

// errorTextMax caps, in bytes, the error text the runner lets out of the
// process (asynq's stored error, log lines, span statuses): a handler that
// returns a megabyte of response body in its error must not bloat Redis or
// the logs.
const errorTextMax = 2 << 10

// sanitizedError is an attempt's error once its text has passed through
// Config.Sanitize and the cap: what the log line, the span status and
// asynq (which stores Error() with the task) see. It unwraps to the
// original, so every classification (errors.Is and errors.As, asynq's
// SkipRetry and RevokeTask, retry-after hints, deferrals) sees through it.
type sanitizedError struct {
	text string
	err  error
}

func (e *sanitizedError) Error() string { return e.text }
func (e *sanitizedError) Unwrap() error { return e.err }

// sanitize returns err with its text sanitized, or nil.
func (r *Runner) sanitize(err error) error {
	if err == nil {
		return nil
	}
	if se, ok := err.(*sanitizedError); ok {
		return se
	}
	return &sanitizedError{text: r.sanitizeText(err.Error()), err: err}
}

// sanitizeText passes msg through Config.Sanitize and cuts the result to
// errorTextMax. A Sanitize that panics withholds the text rather than
// letting it out or crashing the worker.
func (r *Runner) sanitizeText(msg string) (out string) {
	defer func() {
		if recover() != nil {
			out = "error text withheld: Config.Sanitize panicked"
		}
	}()
	return redact.Truncate(r.cfg.Sanitize(msg), errorTextMax, len(msg))
}

// isSkip reports a skipped attempt, whose error text goes nowhere.
func isSkip(err error) bool {
	var s *skipError
	return errors.As(err, &s)
}
