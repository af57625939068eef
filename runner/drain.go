package runner

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// drain is the shutdown coordinator: soft phase (stop fetching, let jobs
// finish), hard phase (cancel with ErrShutdown, short grace), then asynq
// requeues whatever is left with its attempt count unchanged.
func (r *Runner) drain(ctx context.Context) error {
	r.mu.Lock()
	srv := r.srv
	r.mu.Unlock()
	if srv == nil {
		return errors.New("runner: Shutdown before Start")
	}
	if !r.draining.CompareAndSwap(false, true) {
		return errors.New("runner: already shutting down")
	}
	start := r.cfg.Clock.Now()
	close(r.drainCh)
	srv.Stop() // no job starts after this returns
	deadline := start.Add(r.cfg.ShutdownTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	inFlight := r.tracker.len()
	r.log.Info().Str("event", "drain.started").Int("in_flight", inFlight).Time("deadline", deadline).
		Msg("draining: no new jobs; in-flight jobs may finish until the deadline")

	soft := time.NewTimer(time.Until(deadline))
	defer soft.Stop()
	select {
	case <-r.tracker.wait():
	case <-soft.C:
	case <-ctx.Done():
	}
	left := r.tracker.len()
	if left > 0 {
		r.log.Warn().Str("event", "drain.hard").Strs("task_ids", r.tracker.ids()).
			Msg("drain deadline reached: cancelling remaining jobs")
		r.tracker.cancelAll(ErrShutdown)
		grace := time.NewTimer(r.cfg.HardStopGrace)
		select {
		case <-r.tracker.wait():
		case <-grace.C:
		}
		grace.Stop()
	}
	abandoned := r.tracker.len()
	srv.Shutdown() // requeues what is still running, attempt count unchanged
	r.stopped.Store(true)

	elapsed := r.cfg.Clock.Now().Sub(start)
	r.metrics.drainTime.Observe(elapsed.Seconds())
	r.metrics.requeued.Add(float64(left))
	r.log.Info().Str("event", "drain.done").Int("finished", inFlight-left).Int("requeued", left).
		Int("abandoned", abandoned).Dur("duration", elapsed).Msg("drain done")
	if abandoned > 0 {
		return fmt.Errorf("runner: %d job(s) ignored cancellation and were requeued while still running", abandoned)
	}
	return nil
}
