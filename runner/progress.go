package runner

import (
	"context"
	"sync"
	"time"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
)

// progressEvery is the shortest time between two writes of one job's
// progress to Redis: job.Progress may be called per item, and a producer's
// enqueue --wait polls about once a second.
const progressEvery = 500 * time.Millisecond

// progressTimeout bounds one write of a job's progress; a write that fails
// is dropped.
const progressTimeout = time.Second

// progress is what job.Progress reported during one attempt.
type progress struct {
	mu          sync.Mutex
	done, total int
	reported    bool      // job.Progress was called
	writing     bool      // a write is on its way
	pending     bool      // done and total are newer than the last write
	sentAt      time.Time // when the last write started
}

// Progress records how far the job is (job.Progress): in the attempt, and
// in asynq's hash of the task (asynqdb.ProgressField) with a span event, at
// most every progressEvery, or at once when done reaches total. A call
// that is held back is written by the next one that is due, or when the
// attempt ends without completing the job (flushProgress). Callers never
// wait for one another: while one writes, the others only record.
func (v handlerView) Progress(ctx context.Context, done, total int) {
	a := v.a
	done, total = max(done, 0), max(total, 0)
	now := a.runner.cfg.Now()
	p := &a.progress
	p.mu.Lock()
	if p.reported && done == p.done && total == p.total {
		p.mu.Unlock()
		return
	}
	p.done, p.total, p.reported = done, total, true
	finished := total > 0 && done >= total
	if p.writing || (now.Sub(p.sentAt) < progressEvery && !finished) {
		p.pending = true
		p.mu.Unlock()
		return
	}
	p.writing, p.pending, p.sentAt = true, false, now
	p.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, progressTimeout)
	defer cancel()
	a.runner.writeProgress(wctx, a, done, total)
	p.mu.Lock()
	p.writing = false
	p.mu.Unlock()
}

// flushProgress writes the last progress a's handler reported if the
// throttle held it back, so that a producer waiting for a job that was
// interrupted, deferred or failed sees where it stopped. A job that
// completed needs no flush: its task completes.
func (r *Runner) flushProgress(ctx context.Context, a *Attempt) {
	p := &a.progress
	p.mu.Lock()
	if !p.pending || p.writing {
		p.mu.Unlock()
		return
	}
	done, total := p.done, p.total
	p.pending, p.writing = false, true
	p.mu.Unlock()
	wctx, cancel := r.detached(ctx, progressTimeout)
	defer cancel()
	r.writeProgress(wctx, a, done, total)
}

// writeProgress adds a progress event to a's span and writes done and total
// to the task's hash.
func (r *Runner) writeProgress(ctx context.Context, a *Attempt, done, total int) {
	r.traceProgress(a, done, total)
	_ = asynqdb.SetProgress(ctx, r.cfg.Redis, a.Queue, a.TaskID, done, total)
}
