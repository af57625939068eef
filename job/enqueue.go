package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/tracectx"
)

// NewTask validates p and returns an asynq task carrying it as plain JSON,
// with the definition's queue, timeout and retry budget as options. opts
// come after those, so they override them.
func (d *Definition[P]) NewTask(p P, opts ...asynq.Option) (*asynq.Task, error) {
	return d.newTask(p, nil, opts)
}

// newTask is NewTask with the task's headers (nil for none).
func (d *Definition[P]) newTask(p P, headers map[string]string, opts []asynq.Option) (*asynq.Task, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	if err := validate(&p); err != nil {
		return nil, &PayloadError{Type: d.Type, Err: err, Field: fieldOf(err)}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, &PayloadError{Type: d.Type, Err: fmt.Errorf("encode: %w", err)}
	}
	return asynq.NewTaskWithHeaders(d.Type, b, headers, append(TaskOptions(d.Options()), opts...)...), nil
}

// Enqueue validates p and enqueues it through c. Nothing reaches Redis when
// the payload is invalid. The trace context and baggage of ctx, if any, go
// with the task in its headers (W3C traceparent, tracestate and baggage),
// so the attempts' spans join the caller's trace; outside a trace the task
// has no headers, as with asynq's own client.
func (d *Definition[P]) Enqueue(ctx context.Context, c *asynq.Client, p P, opts ...asynq.Option) (*asynq.TaskInfo, error) {
	t, err := d.newTask(p, tracectx.Inject(ctx, nil), opts)
	if err != nil {
		return nil, err
	}
	info, err := c.EnqueueContext(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("job %s: enqueue: %w", d.Type, err)
	}
	return info, nil
}

// TaskOptions returns the asynq options that carry o.
func TaskOptions(o Options) []asynq.Option {
	return []asynq.Option{asynq.Queue(o.Queue), asynq.Timeout(o.Timeout), asynq.MaxRetry(max(o.MaxRetry, 0))}
}

func fieldOf(err error) string {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Field
	}
	return ""
}
