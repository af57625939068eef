package runner

import (
	"context"
	"fmt"
	"slices"

	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/jobctx"
)

// handlerView is what a handler reaches of its attempt through package
// job's functions (job.Draining, job.WriteResult, job.Fence, job.Call,
// job.Checkpoint and job.Resume in checkpoint.go, job.Progress in
// progress.go, job.Log): the track layer puts it in the job's context. It
// wraps a pointer to the Attempt, so it costs no allocation, and the
// handler reaches nothing of the attempt but these.
type handlerView struct{ a *Attempt }

var _ jobctx.Attempt = handlerView{}

// Draining is closed when the worker starts to drain.
func (v handlerView) Draining() <-chan struct{} { return v.a.runner.drainCh }

// WriteResult keeps b as the job's result: with the task in asynq (when the
// task has a retention) and in the dedupe record. It is safe to call from
// the handler's goroutines; the last call wins.
func (v handlerView) WriteResult(b []byte) error {
	kept := slices.Clone(b)
	v.a.result.Store(&kept)
	if w := v.a.Task.ResultWriter(); w != nil {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("runner: write result: %w", err)
		}
	}
	return nil
}

// Fence returns the fencing token of the job's lock.
func (v handlerView) Fence() (int64, bool) {
	if adm := v.a.admission; adm != nil && adm.Lock != nil {
		return adm.Lock.Fence(), true
	}
	return 0, false
}

// Call runs fn through dep's breaker in the runner's registry.
func (v handlerView) Call(ctx context.Context, dep string, fn func(context.Context) error) error {
	return v.a.runner.breakers.Call(ctx, dep, fn)
}

// Log returns the runner's logger with the fields of the runner's own lines
// about the attempt (attemptEvent's), built on the first call.
func (v handlerView) Log() *zerolog.Logger {
	a := v.a
	if l := a.logger.Load(); l != nil {
		return l
	}
	lc := a.runner.log.With().Str("task_id", a.TaskID).Str("type", a.Type).Str("queue", a.Queue).Int("attempt", a.Number())
	if id := batchOfTask(a); id != "" {
		lc = lc.Str("batch", id)
	}
	l := lc.Logger()
	a.logger.CompareAndSwap(nil, &l)
	return a.logger.Load()
}
