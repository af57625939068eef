package batchdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// EnqueueCallback enqueues the callback d reports due for batch id, under
// CallbackTaskID(id), kept for d.TTL after it completes so the ID stays
// taken; a task there already (an earlier call's) counts as enqueued. It
// then marks the callback enqueued.
func EnqueueCallback(ctx context.Context, c *asynq.Client, rdb redis.Cmdable, id string, d Due, now time.Time) error {
	cb := d.Callback
	opts := []asynq.Option{asynq.Queue(cb.Queue), asynq.MaxRetry(max(cb.MaxRetry, 0)),
		asynq.TaskID(CallbackTaskID(id)), asynq.Retention(max(d.TTL, time.Hour).Round(time.Second))}
	if cb.Timeout > 0 {
		opts = append(opts, asynq.Timeout(cb.Timeout))
	}
	t := asynq.NewTaskWithHeaders(cb.Type, cb.Payload, map[string]string{HeaderCallback: id}, opts...)
	if _, err := c.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("batchdb: enqueue the callback of %s: %w", id, err)
	}
	return MarkEnqueued(ctx, rdb, id, now)
}
