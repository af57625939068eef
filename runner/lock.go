package runner

import (
	"context"
	"errors"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/lockstore"
)

// lock is the distributed-lock layer. It holds what the dedupe layer
// admitted for exactly the lifetime of the handler: the lock and the
// in-flight marker are renewed at about a third of their TTL by the
// runner's one renewal loop (one pipeline for all leases due), and the
// lock's fencing token reaches the handler through job.Fence.
//
// If a renewal finds a lease gone, or a lease would expire before a
// renewal succeeds, the handler's context is cancelled with a cause that
// matches lockstore.ErrLockLost, and the job is deferred (reason
// lock_lost): retried, not counted as an attempt, neutral for breakers.
func (r *Runner) lock(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, a *Attempt) error {
		if a.admission == nil {
			return next(ctx, a)
		}
		leases := a.admission.Leases()
		if len(leases) == 0 {
			return next(ctx, a)
		}
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		untrack := r.renewer.Track(func(err error) {
			r.metrics.lockLost.Inc()
			cancel(err)
		}, leases...)
		defer untrack() // a panic in an inner layer must not leave the leases renewed
		err := next(ctx, a)
		untrack() // before the release, so that it is not reported as a loss
		if cause := context.Cause(ctx); err != nil && errors.Is(cause, lockstore.ErrLockLost) {
			a.storeTrouble = true // maybe Redis is away: check before settling
			if _, deferred := asDeferral(err); !deferred {
				r.log.Warn().Str("event", "lock.lost").Str("task_id", a.TaskID).Str("type", a.Type).
					AnErr("cause", cause).Msg("lock or marker lost mid-job: the job was cancelled and will run again")
				return &deferral{DeferError: job.DeferError{Reason: reasonLockLost, After: 0, Err: errors.Join(cause, err)}}
			}
		}
		return err
	}
}
