package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jobrunner/jobrunner/internal/backoff"
	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/internal/logkey"
	"github.com/jobrunner/jobrunner/job"
)

// Reasons of the dedupe and lock layers.
const (
	reasonDuplicateDone     = "duplicate_done"
	reasonDuplicateInFlight = "duplicate_in_flight"
	reasonLockBusy          = "lock_busy"
	reasonLockLost          = "lock_lost"
	reasonStoreUnavailable  = "store_unavailable"
)

// dedupe is the processing-marker dedupe layer. It also takes the job's
// lock, so that a job with both a dedupe key and a lock costs one Redis
// round trip in (marker, lock and fence in one script) and one out
// (completed record, marker and lock release in one script); the lock
// layer then holds what was admitted.
//
// On admission a completed record skips the job (job.skipped,
// duplicate_done: the task completes, with the stored result, without
// running); a marker held by another task ID defers it
// (duplicate_in_flight), never drops it; a marker held by the same task ID
// (a redelivery after a crash) is taken over. A busy lock defers the job
// after the lock's wait (lock_busy). When Redis cannot be reached the job
// is deferred (fail closed), unless its lock is FailOpen and it has no
// dedupe key: then it runs unlocked and the runner says so in the log.
//
// After success the completed record is written and the marker cleared in
// the same script that releases the lock; after anything else only the
// marker is cleared (if still ours), so a retry is admitted.
func (r *Runner) dedupe(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, a *Attempt) (err error) {
		req, ok := r.admitRequest(a)
		if !ok {
			return next(ctx, a)
		}
		start := r.cfg.Now()
		adm, err := r.store.Admit(ctx, req)
		if req.LockKey != "" {
			r.metrics.lockAcquire.Observe(r.cfg.Now().Sub(start).Seconds())
		}
		r.traceAdmission(a, req, adm, err, start)
		if err != nil {
			return r.admitFailed(ctx, a, req, err, next)
		}
		r.metrics.dedupe.WithLabelValues(adm.Verdict.String()).Inc()
		switch adm.Verdict {
		case lockcore.Done:
			if len(adm.Result) > 0 {
				if w := a.Task.ResultWriter(); w != nil {
					_, _ = w.Write(adm.Result)
				}
			}
			return skip(reasonDuplicateDone)
		case lockcore.InFlightElsewhere:
			grow := r.duplicateDelay(adm.HolderTTL)
			d := &deferral{DeferError: job.DeferError{Reason: reasonDuplicateInFlight, After: grow(1)}, grow: grow, Attrs: map[string]string{"dedupe_key": logkey.Cap(req.DedupeKey), "holder": adm.Holder}}
			return d
		}
		a.admission = &adm
		if e := a.tracked.Load(); e != nil {
			e.admission.Store(&adm) // for the end of a drain that abandons the attempt
		}
		// Deferred, so that a panic in an inner layer still releases the
		// marker and the lock: err is still errUnfinished then, which
		// releases without recording a completion.
		err = errUnfinished
		defer func() { r.finishAdmission(ctx, a, err) }()
		return next(ctx, a)
	}
}

// errUnfinished stands for the outcome of an attempt that panicked through a
// layer: whatever it took is released, nothing is recorded as done.
var errUnfinished = errors.New("runner: attempt did not finish")

// admitRequest builds the admission of a, if it needs one.
func (r *Runner) admitRequest(a *Attempt) (lockcore.AdmitRequest, bool) {
	req := lockcore.AdmitRequest{
		TaskID:    a.admissionID(),
		MarkerTTL: r.cfg.MarkerTTL,
		LockKey:   a.prepared.Lock.Key,
		LockTTL:   a.prepared.Lock.TTL,
		LockWait:  a.prepared.Lock.Wait,
	}
	switch {
	case a.prepared.DedupeKey != "":
		// Dedupe keys are per job type; lock keys name shared resources.
		// A schedule's tick is a run of its own (see tickDedupeKey).
		req.DedupeKey = tickDedupeKey(a, a.Type+":"+a.prepared.DedupeKey)
	case a.prepared.DedupeByTaskID:
		req.DedupeKey = a.Type + ":task:" + a.OriginID()
	}
	return req, req.DedupeKey != "" || req.LockKey != ""
}

// admitFailed handles an admission that could not be decided.
func (r *Runner) admitFailed(ctx context.Context, a *Attempt, req lockcore.AdmitRequest, err error, next HandlerFunc) error {
	if ctx.Err() != nil {
		// The attempt itself was cancelled (a drain's hard phase) or timed
		// out while it waited: not a busy lock, whatever the wait says.
		return fmt.Errorf("runner: admission cut short: %w", context.Cause(ctx))
	}
	if errors.Is(err, lockcore.ErrNotObtained) {
		r.metrics.lockContended.Inc()
		d := newDeferral(reasonLockBusy, jitter(max(cmp.Or(req.LockTTL, lockcore.LockTTLDefault)/3, time.Second)), err)
		d.Attrs = map[string]string{"lock_key": logkey.Cap(req.LockKey)}
		return d
	}
	var se *lockcore.StoreError
	if errors.As(err, &se) && a.prepared.Lock.FailOpen && req.DedupeKey == "" {
		r.log.Warn().Str("event", "lock.fail_open").Str("task_id", a.TaskID).Str("type", a.Type).
			Str("lock_key", logkey.Cap(req.LockKey)).Err(err).Msg("lock store unreachable: running WITHOUT the lock (FailOpen)")
		return next(ctx, a)
	}
	a.storeTrouble = true
	return newDeferral(reasonStoreUnavailable, jitter(time.Second), err)
}

// finishAdmission writes the outcome of a job that ran: completed record
// plus releases on success, releases only otherwise. It runs on a detached
// context so that a cancelled job still releases. While Redis cannot be
// reached a success retries (the script only deletes what is still ours, so
// a retry is safe) for up to storeRetryMax: a success whose completed record
// were dropped would run again for the next duplicate. The retries go on
// after the marker's lease has run out, since the script still records the
// success then (see complete.lua).
func (r *Runner) finishAdmission(ctx context.Context, a *Attempt, err error) {
	adm := a.admission
	deadline := time.Now().Add(storeRetryMax)
	var c lockcore.Completion
	var ferr error
	r.retryStore(context.WithoutCancel(ctx), deadline, func() bool {
		c, ferr = r.finishOnce(ctx, a, err)
		if _, ok := errors.AsType[*lockcore.StoreError](ferr); !ok {
			return true
		}
		a.storeTrouble = true
		// Only a success must be recorded; after a failure the marker and
		// lock expire on their own and a retry takes its marker over.
		return err != nil
	})
	if ferr != nil {
		a.unrecorded = err == nil
		r.log.Error().Str("event", "lock.release_failed").Str("task_id", a.TaskID).Err(ferr).
			Msg("could not write the job's completion or release its lock; they expire with their TTL")
		return
	}
	if adm.Lock != nil && c.Lock != lockcore.Released {
		r.log.Warn().Str("event", "lock.overlap_possible").Str("task_id", a.TaskID).
			Str("lock_key", logkey.Cap(adm.Lock.Key())).Int64("fence", adm.Lock.Fence()).Str("release", c.Lock.String()).
			Msg("the lock was no longer ours when the job ended: another holder may have overlapped; fencing tokens protect the resource")
	}
}

// storeRetryMax bounds how long a finished job retries writing its
// completion while Redis is unreachable; it stays under asynq's 30s task
// lease, which cannot be extended meanwhile.
const storeRetryMax = 20 * time.Second

func (r *Runner) finishOnce(ctx context.Context, a *Attempt, err error) (lockcore.Completion, error) {
	adm := a.admission
	drop := r.dropsCheckpoint(ctx, a, err)
	ctx, cancel := r.detached(ctx, 5*time.Second)
	defer cancel()
	if err == nil {
		var result []byte
		if p := a.result.Load(); p != nil {
			result = *p
		}
		return r.store.Complete(ctx, lockcore.CompleteRequest{
			Marker: adm.Marker, Lock: adm.Lock, Result: result, Window: r.dedupeWindow(a), Checkpoint: drop,
		})
	}
	if drop != nil {
		// Archived: the job's place goes too (while the marker or lock is
		// still ours). Only a checkpointing job archived pays this round
		// trip; a checkpoint it fails to drop expires with its TTL.
		_ = r.store.DropCheckpoint(ctx, *drop)
	}
	return r.store.Abandon(ctx, adm.Marker, adm.Lock)
}

// dedupeWindow is how long a's completed record is kept: its job type's
// DedupeWindow, else the runner's.
func (r *Runner) dedupeWindow(a *Attempt) time.Duration {
	if a.spec != nil {
		if w := a.spec.Options().DedupeWindow; w > 0 {
			return w
		}
	}
	return r.cfg.DedupeWindow
}

// duplicateDelay returns when a duplicate of a job in flight is tried
// again after its nth deferral: 250ms after the first, twice as long each
// time up to DuplicateDelay, plus up to half as much jitter; so a duplicate
// of a short job runs or is skipped within about a second of the
// original's end, and one of a long job polls at most every DuplicateDelay.
// A holder whose marker expires sooner (handed over to expiry by a worker
// that exits) is tried again just after it does.
func (r *Runner) duplicateDelay(holderTTL time.Duration) func(int) time.Duration {
	return func(n int) time.Duration {
		d := backoff.Exponential(n-1, duplicateDelayMin, r.cfg.DuplicateDelay, 2, 1)
		d = backoff.Add(d, d/2, rand.Float64())
		if holderTTL > 0 {
			d = min(d, holderTTL+duplicateDelayMin)
		}
		return d
	}
}

// duplicateDelayMin is the first delay of a duplicate.
const duplicateDelayMin = 250 * time.Millisecond

// jitter returns d plus up to half of d, so that deferred jobs don't come
// back in lockstep.
func jitter(d time.Duration) time.Duration { return backoff.Add(d, d/2, rand.Float64()) }
