package runner

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jobrunner/jobrunner/internal/batchdb"
	"github.com/jobrunner/jobrunner/internal/jobctx"
)

// batchRetryAfter is when a batch's job whose count could not be written
// comes back to be counted.
const batchRetryAfter = 10 * time.Second

// settle settles the attempt (settleTask) and, for a job in a batch
// whose outcome ends it for good, counts it in its batch and enqueues the
// batch's callback when it was the last. A job not in a batch costs one
// header lookup.
//
// What asynq does with out decides: nil completes the task (done or
// skipped as a duplicate); RevokeTask deletes it because a copy carries
// the job on (not counted: the copy keeps the batch's headers); an error
// archives it on the last attempt or with SkipRetry, else retries it.
// Counting is idempotent per member, so a job counted, then run again
// (its completion lost, a lease expired) is counted once.
//
// When the count or the callback's enqueue cannot be written within
// storeRetryMax, a completed job is deferred instead, so that it comes
// back (skipped by its dedupe record if it has a DedupeKey) and is counted
// then; an archived job cannot come back and is logged
// (batch.count_failed).
func (r *Runner) settle(ctx context.Context, a *Attempt, err error) error {
	out := r.settleTask(ctx, a, err)
	h := a.Task.Headers()
	id := h[batchdb.HeaderBatch]
	if id == "" && h[batchdb.HeaderCallback] == "" {
		return out
	}
	archived := false
	switch {
	case out == nil:
	case errors.Is(out, asynq.RevokeTask):
		return out
	case a.Last() || errors.Is(out, asynq.SkipRetry):
		archived = true
	default:
		return out
	}
	if id == "" {
		r.callbackFinished(ctx, h[batchdb.HeaderCallback])
		return out
	}
	member := h[batchdb.HeaderMember]
	if member == "" {
		member = a.OriginID()
	}
	cerr := r.countInBatch(ctx, id, member, a.TaskID, archived)
	if cerr == nil {
		return out
	}
	r.batches.countFailed.Inc()
	r.attemptEvent(r.log.Error(), a).Str("event", "batch.count_failed").Str("batch", id).Bool("archived", archived).
		Err(r.sanitize(cerr)).Msg("could not count a finished job in its batch")
	if out == nil && !a.Last() {
		return newDeferral(reasonStoreUnavailable, batchRetryAfter, cerr)
	}
	return out
}

// countInBatch counts member of batch id and enqueues the callback when it
// is due, retrying while Redis does not answer.
func (r *Runner) countInBatch(ctx context.Context, id, member, taskID string, archived bool) error {
	ctx, cancel := r.detached(ctx, storeRetryMax)
	defer cancel()
	deadline, _ := ctx.Deadline()
	var due batchdb.Due
	var err error
	r.retryStore(ctx, deadline, func() bool {
		due, err = batchdb.Count(ctx, r.cfg.Redis, id, member, taskID, archived)
		return err == nil || errors.Is(err, batchdb.ErrNotFound) || errors.Is(err, batchdb.ErrNotMember)
	})
	switch {
	case errors.Is(err, batchdb.ErrNotFound), errors.Is(err, batchdb.ErrNotMember):
		// The batch expired, or the task claims a batch it was never
		// added to: nothing waits for it.
		r.log.Warn().Str("event", "batch.unknown").Str("batch", id).Str("task_id", taskID).Err(err).
			Msg("a finished job names a batch that does not list it; not counted")
		return nil
	case err != nil:
		return err
	case !due.Due:
		return nil
	}
	r.retryStore(ctx, deadline, func() bool {
		err = batchdb.EnqueueCallback(ctx, r.client, r.cfg.Redis, id, due, r.cfg.Now())
		return err == nil
	})
	if err != nil {
		return err
	}
	r.log.Info().Str("event", "batch.finished").Str("batch", id).Int("total", due.Total).
		Str("callback", due.Callback.Type).Msg("batch finished; callback enqueued")
	return nil
}

// callbackFinished counts batch id as finished when its callback ended
// (completed or archived), wherever the callback was enqueued.
func (r *Runner) callbackFinished(ctx context.Context, id string) {
	r.batches.finished.Inc()
	ctx, cancel := r.detached(ctx, time.Second)
	defer cancel()
	if s, err := batchdb.Read(ctx, r.cfg.Redis, id); err == nil {
		r.batches.size.Observe(float64(s.Total))
	}
}

// batchContext gives a batch's callback what job.BatchOf reads.
func (r *Runner) batchContext(ctx context.Context, a *Attempt) context.Context {
	id := a.Task.Headers()[batchdb.HeaderCallback]
	if id == "" {
		return ctx
	}
	return jobctx.WithBatch(ctx, func(ctx context.Context) (batchdb.Status, error) {
		s, err := batchdb.Read(ctx, r.cfg.Redis, id)
		s.ID = id
		return s, err
	})
}

// batchMetrics count the batches whose callback ran on this worker.
type batchMetrics struct {
	finished    prometheus.Counter
	size        prometheus.Histogram
	countFailed prometheus.Counter
}

func newBatchMetrics(reg prometheus.Registerer) (*batchMetrics, error) {
	m := &batchMetrics{
		finished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jobrunner_batches_finished_total", Help: "Batches whose callback ended (completed or archived) on this worker.",
		}),
		size: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jobrunner_batch_size", Help: "Jobs in each batch counted by jobrunner_batches_finished_total.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10), // 1 to 262,144
		}),
		countFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jobrunner_batch_count_failed_total", Help: "Finished jobs of a batch that could not be counted (Redis did not answer): deferred to be counted later, or lost when archived.",
		}),
	}
	for _, c := range []prometheus.Collector{m.finished, m.size, m.countFailed} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// batchOfTask returns the ID of the batch a's task is a member or the
// callback of, for log lines and spans; "" for most tasks.
func batchOfTask(a *Attempt) string {
	h := a.Task.Headers()
	if id := h[batchdb.HeaderBatch]; id != "" {
		return id
	}
	return h[batchdb.HeaderCallback]
}
