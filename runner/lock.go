package runner

import (
	"context"
	"errors"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

// lock is the distributed-lock layer. It holds what the dedupe layer
// admitted for exactly the lifetime of the handler: the lock and the
// in-flight marker are renewed at about a third of their TTL by the
// runner's one renewal loop (one pipeline for all leases due), and the
// lock's fencing token reaches the handler through job.Fence.
//
// If a renewal finds a lease gone, or a lease would expire before a
// renewal succeeds, the handler's context is cancelled with a cause that
// matches lockcore.ErrLockLost, and the job is deferred (reason
// lock_lost): retried, not counted as an attempt, neutral for breakers.
func (r *Runner) lock(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, a *Attempt) error {
		adm := a.admission
		if adm == nil || adm.Marker == nil && adm.Lock == nil {
			return next(ctx, a)
		}
		var cancel context.CancelCauseFunc
		if e := a.tracked.Load(); e != nil {
			// The track layer's context, which ctx derives from: a lost
			// lease cancels it with its cause as a context of this
			// layer's own would, without a second context per attempt.
			cancel = e.cancel
		} else {
			ctx, cancel = context.WithCancelCause(ctx)
			defer cancel(nil)
		}
		r.renewer.TrackIn(&a.renewal, func(err error) {
			r.metrics.lockLost.Inc()
			cancel(err)
		}, adm.Marker, adm.Lock) // a nil lease is skipped
		defer a.renewal.Untrack() // a panic in an inner layer must not leave the leases renewed
		err := next(ctx, a)
		a.renewal.Untrack() // before the release, so that it is not reported as a loss
		err, _ = r.afterLeaseLoss(ctx, a, err)
		return err
	}
}

// afterLeaseLoss turns err, the outcome of an attempt whose context was
// cancelled because a lease it held (lock, marker or dependency slot) was
// lost, into a lock_lost deferral: the job runs again, no attempt counted,
// neutral for breakers; lost reports that a lease was lost. Any other
// outcome is returned as it is.
func (r *Runner) afterLeaseLoss(ctx context.Context, a *Attempt, err error) (_ error, lost bool) {
	cause := context.Cause(ctx)
	if err == nil || !errors.Is(cause, lockcore.ErrLockLost) {
		return err, false
	}
	a.storeTrouble = true // maybe Redis is away: check before settling
	if _, deferred := asDeferral(err); deferred {
		return err, true
	}
	r.log.Warn().Str("event", "lock.lost").Str("task_id", a.TaskID).Str("type", a.Type).
		AnErr("cause", cause).Msg("lock, marker or dependency slot lost mid-job: the job was cancelled and will run again")
	return newDeferral(reasonLockLost, 0, errors.Join(cause, err)), true
}
