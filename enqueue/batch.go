package enqueue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/batchdb"
	"github.com/jobrunner/jobrunner/job"
)

// onComplete returns the batch callback --on-complete and
// --on-complete-payload name, decoded and validated against the registry
// before anything is read or written: a job type this binary does not
// know, or a payload it refuses, is a usage error.
func (c *cli) onComplete() (cb job.Callback, queue string, err error) {
	spec, ok := c.cfg.Registry.Lookup(c.f.onComplete)
	if !ok {
		return job.Callback{}, "", usageErr("--on-complete %q: unknown job type (known: %s)", c.f.onComplete, knownTypes(c.cfg.Registry.Types()))
	}
	payload := []byte(c.f.onCompletePayload)
	if len(payload) > c.f.maxPayload {
		return job.Callback{}, "", usageErr("--on-complete-payload is %d bytes, more than --max-payload-bytes %d", len(payload), c.f.maxPayload)
	}
	cb, err = job.CallbackFor(spec, payload)
	if err != nil {
		return job.Callback{}, "", usageErr("--on-complete-payload: %v", err)
	}
	return cb, spec.Options().Queue, nil
}

func knownTypes(types []string) string {
	s := ""
	for i, t := range types {
		if i > 0 {
			s += ", "
		}
		s += t
	}
	return s
}

// joinBatch opens a batch with callback cb and makes every task one of
// its members: a task ID of its own (the member's ID) and the batch's
// headers. The members are registered before any task is written, so the
// batch never finishes without one of them.
func (c *cli) joinBatch(ctx context.Context, rdb redis.UniversalClient, cb job.Callback, tasks []task) (*job.Batch, error) {
	b, err := job.NewBatch(ctx, rdb, job.BatchOptions{OnComplete: cb})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(tasks))
	for i := range tasks {
		t := &tasks[i]
		if t.TaskID == "" {
			t.TaskID = uuid.NewString()
		}
		ids[i] = t.TaskID
		h := maps.Clone(t.Headers)
		if h == nil {
			h = make(map[string]string, 2)
		}
		h[batchdb.HeaderBatch], h[batchdb.HeaderMember] = b.ID(), t.TaskID
		t.Headers = h
	}
	if _, err := batchdb.Add(ctx, rdb, b.ID(), ids); err != nil {
		return nil, fmt.Errorf("batch %s: %w", b.ID(), err)
	}
	return b, nil
}

// closeBatch unregisters the tasks that were certainly not written
// (duplicates: their ID or uniqueness lock was taken) and closes the
// batch. After a write error it leaves the batch open, since what the
// failed call wrote is unknown.
func (c *cli) closeBatch(ctx context.Context, rdb redis.UniversalClient, b *job.Batch, tasks []task, outcomes []int) error {
	var gone []string
	for i, o := range outcomes {
		if o == idConflict || o == notUnique {
			gone = append(gone, tasks[i].TaskID)
		}
	}
	if len(gone) > 0 {
		if _, err := batchdb.Remove(ctx, rdb, b.ID(), gone); err != nil {
			return fmt.Errorf("batch %s: %w", b.ID(), err)
		}
	}
	return b.Close(ctx)
}

// waitBatch shows the batch's progress (finished / total, on a terminal)
// until its callback is enqueued, then waits for the callback like a
// single job's --wait and returns its exit status.
func (c *cli) waitBatch(ctx context.Context, rdb redis.UniversalClient, b *job.Batch, queue string, start time.Time) int {
	if c.f.waitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.f.waitTimeout, errWaitTimeout)
		defer cancel()
	}
	var bar *rateBar
	if c.f.output == "text" && c.cfg.isTerminal(c.stderr) {
		bar = &rateBar{w: c.stderr, now: c.cfg.now}
	}
	interval := pollMin
	last := -1
	for {
		pctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
		st, err := b.Status(pctx)
		cancel()
		switch {
		case errors.Is(err, job.ErrBatchNotFound):
			return c.fail(ExitError, fmt.Errorf("batch %s vanished while waiting: its TTL expired", b.ID()))
		case err != nil && ctx.Err() == nil:
			return c.fail(ExitError, fmt.Errorf("wait for batch %s: %v", b.ID(), err))
		case err == nil && bar != nil && st.Done != last:
			bar.update(st.Done, st.Total)
			last = st.Done
		}
		if err == nil && st.Finished {
			if bar != nil {
				bar.breakLine()
			}
			return c.wait(ctx, rdb, &asynq.TaskInfo{ID: batchdb.CallbackTaskID(b.ID()), Queue: queue}, start)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			if bar != nil {
				bar.breakLine()
			}
			if errors.Is(context.Cause(ctx), errWaitTimeout) {
				return c.fail(ExitWaitTimeout, fmt.Errorf("batch %s: %d of %d jobs finished after %v (--wait-timeout); it goes on", b.ID(), st.Done, st.Total, c.f.waitTimeout))
			}
			return c.fail(ExitInterrupted, fmt.Errorf("interrupted while waiting for batch %s (%d of %d jobs finished); it goes on", b.ID(), st.Done, st.Total))
		case <-t.C:
		}
		interval = min(2*interval, c.cfg.pollMax)
	}
}
