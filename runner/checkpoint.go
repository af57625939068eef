package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/job"
)

// checkpointTimeout bounds a checkpoint's read or write. It runs on a
// detached context, so that a handler cut short by a drain's hard phase can
// still save its place within the hard stop's grace.
const checkpointTimeout = 2 * time.Second

// Checkpoint saves b as the job's checkpoint (job.Checkpoint), fenced by
// the marker or lock the dedupe layer admitted the job under.
func (v handlerView) Checkpoint(ctx context.Context, b []byte) error {
	a := v.a
	c, err := a.checkpoint()
	if err != nil {
		return err
	}
	ctx, cancel := a.runner.detached(ctx, checkpointTimeout)
	defer cancel()
	if err := a.runner.store.SaveCheckpoint(ctx, c, b, a.runner.cfg.CheckpointTTL); err != nil {
		return checkpointError("save", err)
	}
	a.checkpointed.Store(true)
	return nil
}

// Resume returns the job's checkpoint (job.Resume).
func (v handlerView) Resume(ctx context.Context) ([]byte, bool, error) {
	a := v.a
	c, err := a.checkpoint()
	if err != nil {
		return nil, false, err
	}
	ctx, cancel := a.runner.detached(ctx, checkpointTimeout)
	defer cancel()
	b, ok, err := a.runner.store.LoadCheckpoint(ctx, c, a.runner.cfg.CheckpointTTL)
	if err != nil {
		return nil, false, checkpointError("resume", err)
	}
	if ok {
		a.checkpointed.Store(true)
	}
	return b, ok, nil
}

// checkpoint returns the checkpoint of a's job: beside its in-flight marker
// when it has a dedupe key (which names the job, and follows it across
// copies), else beside its lock, named by its type and original task ID (a
// lock names a resource that other jobs share). A job with neither has
// nothing to fence it; one that has a lock but runs without it (FailOpen,
// Redis unreachable at admission) cannot reach Redis for its checkpoint
// either, and waits for it.
func (a *Attempt) checkpoint() (lockcore.Checkpoint, error) {
	if adm := a.admission; adm != nil {
		switch {
		case adm.Marker != nil:
			return lockcore.Checkpoint{Lease: adm.Marker}, nil
		case adm.Lock != nil:
			return lockcore.Checkpoint{Lease: adm.Lock, Name: a.Type + ":" + a.OriginID()}, nil
		}
	}
	if a.prepared.Lock.Key != "" {
		return lockcore.Checkpoint{}, job.Defer(reasonStoreUnavailable, jitter(time.Second),
			errors.New("runner: the job runs without its lock (FailOpen, Redis unreachable): nothing fences its checkpoint"))
	}
	return lockcore.Checkpoint{}, job.Permanent(fmt.Errorf("%w (job type %s)", job.ErrUnfenced, a.Type))
}

// checkpointError puts an error of the store in the handler's terms: a lost
// lease is job.ErrFencedOut (the lease is marked lost, so the lock layer
// cancels the attempt and defers it as lock_lost); an unreachable store a
// deferral, so that a handler that returns the error waits for Redis
// without spending an attempt.
func checkpointError(op string, err error) error {
	var se *lockcore.StoreError
	switch {
	case errors.Is(err, lockcore.ErrLockLost):
		return fmt.Errorf("%w: %w", job.ErrFencedOut, err)
	case errors.As(err, &se):
		return job.Defer(reasonStoreUnavailable, jitter(time.Second), fmt.Errorf("runner: %s checkpoint: %w", op, err))
	}
	return fmt.Errorf("runner: %s checkpoint: %w", op, err)
}

// dropsCheckpoint returns the checkpoint that the end of a's attempt
// removes, if any: only an attempt that saved or resumed one knows there is
// one (the others pay nothing), and only an outcome that ends the job
// removes it: a success (in the completion's own script), or a failure that
// archives the task. err is the outcome as the dedupe layer sees it.
func (r *Runner) dropsCheckpoint(ctx context.Context, a *Attempt, err error) *lockcore.Checkpoint {
	if !a.checkpointed.Load() || (err != nil && !r.archives(ctx, a, err)) {
		return nil
	}
	c, cerr := a.checkpoint()
	if cerr != nil {
		return nil
	}
	return &c
}

// archives reports whether err, the outcome of a's handler as the dedupe
// layer sees it, archives the task: a failure that is permanent or on the
// last attempt, and not a deferral, a skip, an attempt that panicked
// through a layer, or one cut short by a drain (the track layer requeues
// those). A deferral on the last attempt goes on in a copy, which resumes.
func (r *Runner) archives(ctx context.Context, a *Attempt, err error) bool {
	if err == nil || errors.Is(err, errUnfinished) || isSkip(err) || errors.Is(context.Cause(ctx), job.ErrShutdown) {
		return false
	}
	if _, deferred := asDeferral(err); deferred {
		return false
	}
	return permanent(err) || a.Last()
}
