package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/fleet"
	"github.com/jobrunner/jobrunner/resilience"
)

// settleTask translates an attempt's outcome into what asynq must do with
// the task (settle, batch.go, then counts a batch's job). err comes from
// the chain, sanitized by observe: what settleTask returns keeps that text,
// since asynq stores it with the task.
func (r *Runner) settleTask(ctx context.Context, a *Attempt, err error) error {
	if err == nil {
		return nil
	}
	var s *skipError
	if errors.As(err, &s) {
		r.markSkipped(ctx, a, s.Reason)
		r.tickSkipped(a, s.Reason)
		return nil // completes the task without running it
	}
	if d, ok := asDeferral(err); ok {
		if !a.Last() {
			return err // not a failure: retried after d.After, no attempt counted
		}
		return r.requeueCopy(ctx, a, d, err)
	}
	if permanent(err) && !errors.Is(err, asynq.SkipRetry) {
		return fmt.Errorf("%w (%w)", err, asynq.SkipRetry)
	}
	return err
}

// isFailure is asynq's IsFailure: a deferral does not count an attempt.
func isFailure(err error) bool {
	_, deferred := asDeferral(err)
	return !deferred
}

// retryDelay is asynq's RetryDelayFunc.
func (r *Runner) retryDelay(retried int, err error, t *asynq.Task) time.Duration {
	if d, ok := asDeferral(err); ok {
		return d.After
	}
	if d, ok := resilience.RetryAfterHint(err); ok {
		// The callee said when: honour it (capped) whatever the schedule.
		return min(max(d, 0), r.cfg.MaxRetryAfter)
	}
	if spec, ok := r.registry.Lookup(t.Type()); ok {
		if b := spec.Options().Backoff; b != nil {
			return b(retried, err)
		}
	}
	return r.cfg.RetryBackoff(retried, err)
}

// requeueCopy handles a deferral on the last attempt, where asynq would
// archive any error: it enqueues a copy of the task that runs after
// d.After with the retries the original had left, then revokes the
// original. The copy keeps the original's timeout, deadline and retention,
// and takes over its uniqueness lock (asynq's Unique option) for the lock's
// remaining TTL. The copy's ID is derived from the original's, so a
// repeated enqueue conflicts instead of duplicating. If the worker dies
// between the two steps, asynq's lease recovery archives the original,
// since it was on its last attempt (its check is the same as Last), and
// the copy runs: the job is neither lost nor run twice. (A drain's
// hand-over of a running handler copies nothing: see handOver.) When the
// copy cannot be enqueued it returns fallback (the attempt's sanitized
// error), which asynq archives.
func (r *Runner) requeueCopy(ctx context.Context, a *Attempt, d *deferral, fallback error) error {
	origin := a.OriginID()
	n, _ := strconv.Atoi(a.Task.Headers()[headerRequeues])
	n++
	headers := maps.Clone(a.Task.Headers())
	if headers == nil {
		headers = map[string]string{}
	}
	headers[HeaderOrigin] = origin
	headers[headerRequeues] = strconv.Itoa(n)
	headers[fleet.HeaderDeferral] = d.Reason // for the status page: why the copy waits
	headers = injectTrace(ctx, headers)
	id := origin + "~" + strconv.Itoa(n)

	ctx, cancel := r.detached(ctx, 10*time.Second)
	defer cancel()
	opts := append(r.carriedOptions(ctx, a), asynq.Queue(a.Queue), asynq.MaxRetry(max(a.MaxRetry-a.Retried, 0)),
		asynq.ProcessIn(d.After), asynq.TaskID(id))
	task := asynq.NewTaskWithHeaders(a.Type, a.Task.Payload(), headers, opts...)
	var err error
	deadline, _ := ctx.Deadline()
	r.retryStore(ctx, deadline, func() bool {
		_, err = r.client.EnqueueContext(ctx, task)
		return err == nil || errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask)
	})
	switch {
	case err == nil || errors.Is(err, asynq.ErrTaskIDConflict):
		r.traceRequeued(a, id)
		r.holdTick(ctx, a) // the revoke frees a tick's ID: its record must conflict
		return fmt.Errorf("%w: deferred on the last attempt, re-enqueued as %s", asynq.RevokeTask, id)
	case errors.Is(err, asynq.ErrDuplicateTask):
		// Another task with the same type and payload took the uniqueness
		// lock the moment it was freed: it carries the job.
		r.log.Warn().Str("event", "job.requeue_duplicate").Str("task_id", a.TaskID).
			Msg("a unique task took this job's uniqueness lock while it was re-enqueued; that task carries the job")
		return fmt.Errorf("%w: deferred on the last attempt; a unique duplicate carries it", asynq.RevokeTask)
	}
	// Returning the attempt's error (a deferral) lets asynq archive the
	// task: better visible in the archive than lost.
	r.log.Error().Str("event", "job.requeue_failed").Str("task_id", a.TaskID).Err(r.sanitize(err)).
		Msg("could not re-enqueue a job deferred on its last attempt; asynq will archive it")
	return fallback
}

// carriedOptions returns the options of a's task that its copy keeps:
// timeout, deadline and retention as asynq stored them (falling back to
// the definition's timeout when they cannot be read), and the uniqueness
// lock, handed over for its remaining TTL.
func (r *Runner) carriedOptions(ctx context.Context, a *Attempt) []asynq.Option {
	var opts []asynq.Option
	if a.spec != nil {
		opts = append(opts, asynq.Timeout(a.spec.Options().Timeout))
	}
	if info, err := asynqdb.Read(ctx, r.cfg.Redis, a.Queue, a.TaskID); err == nil {
		if info.Timeout > 0 {
			opts = append(opts, asynq.Timeout(info.Timeout))
		}
		if !info.Deadline.IsZero() {
			opts = append(opts, asynq.Deadline(info.Deadline))
		}
		if info.Retention > 0 {
			opts = append(opts, asynq.Retention(info.Retention))
		}
	}
	left, err := asynqdb.ReleaseUnique(ctx, r.cfg.Redis, a.Queue, a.Type, a.Task.Payload(), a.TaskID)
	if err == nil && left > 0 {
		// asynq's Unique takes whole seconds, at least one.
		opts = append(opts, asynq.Unique(max(left, time.Second).Round(time.Second)))
	}
	return opts
}

const headerRequeues = "jobrunner-requeues"
