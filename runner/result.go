package runner

import (
	"context"
	"errors"
	"fmt"
)

// ErrNoJob is returned by WriteResult outside a job's context.
var ErrNoJob = errors.New("runner: not in a job's context")

// WriteResult records the job's result bytes: asynq keeps them with the
// task (readable with the Inspector or `enqueue --wait` when the task has a
// retention), and a job with a dedupe key stores them in its completed
// record, so a duplicate skipped later completes with the same result.
// Calling it again replaces the result.
func WriteResult(ctx context.Context, b []byte) error {
	a, _ := ctx.Value(attemptKey{}).(*Attempt)
	if a == nil {
		return ErrNoJob
	}
	a.result = append(a.result[:0], b...)
	if w := a.Task.ResultWriter(); w != nil {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("runner: write result: %w", err)
		}
	}
	return nil
}
