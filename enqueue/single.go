package enqueue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/tracectx"
)

// single enqueues one job from the positional arguments.
func (c *cli) single(ctx context.Context, opts optionSet) int {
	typ := c.f.args[0]
	payload, err := c.readPayload()
	if err != nil {
		return c.failErr(err)
	}
	if c.f.wait && opts.Retention == nil {
		r := WaitRetentionDefault
		opts.Retention = &r
	}
	t, err := c.validator().newTask(ctx, typ, payload, opts)
	if err != nil && ctx.Err() != nil {
		return c.fail(ExitInterrupted, fmt.Errorf("interrupted while checking the %s job: nothing enqueued", typ))
	}
	if err != nil {
		return c.fail(ExitUsage, err)
	}
	if c.f.dryRun {
		return c.printDryRun(t)
	}
	rdb, err := c.connect(ctx)
	if err != nil {
		return c.failConnect(ctx, err)
	}
	defer rdb.Close()
	start := time.Now()
	ctx, span, headers := c.startSpan(ctx, "enqueue "+t.Type, tracectx.AttrType.String(t.Type), tracectx.AttrDestination.String(t.Queue))
	t.Headers = headers
	info, err := asynq.NewClientFromRedisClient(rdb).EnqueueContext(ctx, asynq.NewTaskWithHeaders(t.Type, t.Payload, t.Headers), t.asynqOptions()...)
	endEnqueue(span, info, err)
	switch {
	case errors.Is(err, asynq.ErrDuplicateTask):
		return c.fail(ExitConflict, fmt.Errorf("duplicate: a %s task with the same payload is already on queue %q (--unique %v)", t.Type, t.Queue, t.Unique))
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return c.fail(ExitConflict, fmt.Errorf("conflict: task ID %q already exists on queue %q", t.TaskID, t.Queue))
	case err != nil && ctx.Err() != nil:
		return c.fail(ExitInterrupted, fmt.Errorf("interrupted while enqueueing %s: %v", t.Type, context.Cause(ctx)))
	case err != nil:
		return c.fail(ExitError, fmt.Errorf("enqueue %s: %v", t.Type, err))
	}
	if c.f.wait {
		return c.wait(ctx, rdb, info, start)
	}
	if c.f.output == "json" {
		return c.printJSON(taskJSONOf(info))
	}
	if info.State == asynq.TaskStateScheduled {
		fmt.Fprintf(c.stdout, "scheduled %s on queue %s for %s\n", info.ID, info.Queue, info.NextProcessAt.Format(timeFormat))
		return ExitOK
	}
	fmt.Fprintf(c.stdout, "enqueued %s on queue %s\n", info.ID, info.Queue)
	return ExitOK
}

// readPayload returns PAYLOAD_JSON, the --payload-file contents or {},
// without surrounding whitespace.
func (c *cli) readPayload() ([]byte, error) {
	if len(c.f.args) == 2 {
		return bytes.TrimSpace([]byte(c.f.args[1])), nil
	}
	if c.f.payloadFile == "" {
		return []byte("{}"), nil
	}
	r, closeFn, err := c.open(c.f.payloadFile)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	// Read a little past the limit: enough to tell "too large" without
	// reading a runaway stream to the end.
	b, err := io.ReadAll(io.LimitReader(r, int64(c.f.maxPayload)+64<<10))
	if err != nil {
		return nil, fmt.Errorf("--payload-file: %v", err)
	}
	return bytes.TrimSpace(bytes.TrimPrefix(b, utf8BOM)), nil
}

func (c *cli) printDryRun(t task) int {
	if c.f.output == "json" {
		j := taskJSONOfTask(t, c.cfg.now())
		return c.printJSON(j)
	}
	fmt.Fprintf(c.stdout, "dry run: would enqueue %s on queue %s: %s\n", t.Type, t.Queue, t.describe())
	fmt.Fprintf(c.stdout, "payload: %s\n", t.Payload)
	return ExitOK
}

func (c *cli) printJSON(v any) int {
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return c.fail(ExitError, err)
	}
	return ExitOK
}
