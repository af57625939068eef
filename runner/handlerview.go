package runner

import (
	"context"
	"fmt"
	"slices"

	"github.com/jobrunner/jobrunner/internal/jobctx"
)

// handlerView is what a handler reaches of its attempt through package
// job's functions (job.Draining, job.WriteResult, job.Fence, job.Call):
// the track layer puts it in the job's context.
type handlerView Attempt

var _ jobctx.Attempt = (*handlerView)(nil)

// Draining is closed when the worker starts to drain.
func (v *handlerView) Draining() <-chan struct{} { return v.runner.drainCh }

// WriteResult keeps b as the job's result: with the task in asynq (when the
// task has a retention) and in the dedupe record. It is safe to call from
// the handler's goroutines; the last call wins.
func (v *handlerView) WriteResult(b []byte) error {
	kept := slices.Clone(b)
	v.result.Store(&kept)
	if w := v.Task.ResultWriter(); w != nil {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("runner: write result: %w", err)
		}
	}
	return nil
}

// Fence returns the fencing token of the job's lock.
func (v *handlerView) Fence() (int64, bool) {
	if adm := v.admission; adm != nil && adm.Lock != nil {
		return adm.Lock.Fence(), true
	}
	return 0, false
}

// Call runs fn through dep's breaker in the runner's registry.
func (v *handlerView) Call(ctx context.Context, dep string, fn func(context.Context) error) error {
	return v.runner.breakers.Call(ctx, dep, fn)
}
