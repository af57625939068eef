package runner

import (
	"context"
	"errors"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
)

// classify is the retry-classification layer, just outside the handler. It
// puts the handler's error in the runner's terms:
//
//   - an open breaker met inside the handler (job.Call on a dependency)
//     defers the job instead of failing it;
//   - asynq.SkipRetry and job.Permanent archive the task at once;
//   - anything else is a failure that asynq retries with the job's backoff
//     (honouring a job.RetryAfter hint) until MaxRetry.
func (r *Runner) classify(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, a *Attempt) error {
		e := a.tracked.Load()
		if e != nil {
			e.inHandler.Store(true)
		}
		err := next(ctx, a) // panics are recovered inside
		if e != nil {
			e.inHandler.Store(false)
		}
		if err == nil {
			return nil
		}
		r.flushProgress(ctx, a)
		var oe *resilience.OpenError
		if errors.As(err, &oe) {
			return deferOpen(oe)
		}
		if errors.Is(err, asynq.SkipRetry) && !resilience.IsPermanent(err) {
			return job.Permanent(err)
		}
		return err
	}
}
