package runner

import (
	"context"
	"fmt"

	"github.com/jobrunner/jobrunner/job"
)

// decode resolves the task's job type and decodes its payload strictly. A
// payload that fails is archived at once with an error naming the field.
// A task of a type no handler is registered for (a worker older than its
// producer during a rollout, or a typo) is deferred without spending an
// attempt, with a delay that grows from 5s to 5 minutes, so that a newer
// worker can pick it up; the deferral bound (MaxDeferral) archives it in
// the end.
func (r *Runner) decode(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, a *Attempt) error {
		if a.spec == nil {
			return &deferral{DeferError: job.DeferError{Reason: reasonUnknownType, After: unknownTypeDelay(1), Err: fmt.Errorf("runner: no handler registered for task type %q", a.Type)}, grow: unknownTypeDelay}
		}
		p, err := a.spec.Prepare(a.Task.Payload())
		if err != nil {
			return &reasonError{Reason: reasonInvalidPayload, Err: err}
		}
		a.prepared = p
		scheduleLock(a) // a NoOverlap schedule's tick takes the schedule's lock
		// A task enqueued without a timeout by a plain asynq client still
		// gets the definition's.
		if dl, ok := ctx.Deadline(); ok {
			if t := a.spec.Options().Timeout; dl.Sub(r.cfg.Now()) > t {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, t)
				defer cancel()
			}
		}
		return next(ctx, a)
	}
}
