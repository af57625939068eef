package enqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// pollMin is the first interval between two looks at a waited-for task;
// it doubles up to Config.pollMax.
const pollMin = 50 * time.Millisecond

// wait polls the task's state until it is completed or archived, prints
// the outcome and returns the exit status: ExitOK, ExitArchived,
// ExitWaitTimeout, or ExitError when the task vanished or Redis failed.
func (c *cli) wait(ctx context.Context, rdb redis.UniversalClient, enqueued *asynq.TaskInfo) int {
	if c.f.output == "text" {
		fmt.Fprintf(c.stdout, "enqueued %s on queue %s\n", enqueued.ID, enqueued.Queue)
	}
	if c.f.waitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.f.waitTimeout, errWaitTimeout)
		defer cancel()
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	last := enqueued
	interval := pollMin
	for {
		info, err := insp.GetTaskInfo(enqueued.Queue, enqueued.ID)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound):
			return c.fail(ExitError, fmt.Errorf("task %s vanished from queue %s while waiting: deleted, or its retention expired", enqueued.ID, enqueued.Queue))
		case err != nil && ctx.Err() == nil:
			return c.fail(ExitError, fmt.Errorf("wait for task %s: %v", enqueued.ID, err))
		case err == nil:
			last = info
		}
		switch last.State {
		case asynq.TaskStateCompleted:
			if c.f.output == "json" {
				return c.printJSON(taskJSONOf(last))
			}
			c.stdout.Write(last.Result)
			return ExitOK
		case asynq.TaskStateArchived:
			if c.f.output == "json" {
				c.printJSON(taskJSONOf(last))
			}
			return c.fail(ExitArchived, fmt.Errorf("task %s archived after %d retries: %s", last.ID, last.Retried, last.LastErr))
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			if c.f.output == "json" {
				c.printJSON(taskJSONOf(last))
			}
			if errors.Is(context.Cause(ctx), errWaitTimeout) {
				return c.fail(ExitWaitTimeout, fmt.Errorf("task %s still %s after %v (--wait-timeout); it stays queued", last.ID, last.State, c.f.waitTimeout))
			}
			return c.fail(ExitError, fmt.Errorf("interrupted while waiting for task %s (%s); it stays queued", last.ID, last.State))
		case <-t.C:
		}
		interval = min(2*interval, c.cfg.pollMax)
	}
}

var errWaitTimeout = errors.New("wait timeout")
