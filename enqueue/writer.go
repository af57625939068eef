package enqueue

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
)

// Outcomes of one task write: asynqdb's, and one of ours.
const (
	wrote       = asynqdb.Wrote
	idConflict  = asynqdb.IDConflict
	notUnique   = asynqdb.NotUnique
	outcomeNone = -2 // not written: the run stopped first
)

// bulkWriter writes validated tasks to Redis as asynq's Client.Enqueue
// would: per batch, one atomic script call per queue, all in one
// pipeline. Tasks are written in order within each queue.
type bulkWriter struct {
	rdb   redis.UniversalClient
	batch int
	now   func() time.Time

	ids io.Reader // buffered crypto/rand for task IDs; set by write
}

// batchCall is one queue's batch and the indexes of its tasks.
type batchCall struct {
	idx   []int
	batch *asynqdb.Batch
}

// add adds t (the ith task of the batch), writing it as asynq's
// Client.EnqueueContext would; a task without an ID gets a random UUID as
// asynq makes them.
func (c *batchCall) add(i int, t task, now time.Time, ids io.Reader) error {
	c.idx = append(c.idx, i)
	id := t.TaskID
	if id == "" {
		u, err := uuid.NewRandomFromReader(ids)
		if err != nil {
			return fmt.Errorf("task ID: %w", err)
		}
		id = u.String()
	}
	m := asynqdb.Message{Type: t.Type, Payload: t.Payload, ID: id, Queue: t.Queue,
		Retry: int32(t.MaxRetry), Timeout: int64(t.Timeout.Seconds()), Retention: int64(t.Retention.Seconds()),
		Headers: t.Headers}
	if !t.Deadline.IsZero() {
		m.Deadline = t.Deadline.Unix()
	}
	c.batch.Add(&m, t.ProcessAt, now, t.Unique)
	return nil
}

// write writes tasks and returns each one's outcome (wrote, idConflict,
// notUnique, or outcomeNone when it was not attempted). It stops at the
// first Redis error or when ctx is done, between batches; the outcomes
// then tell what was written. progress, if not nil, is called after each
// batch with the number of tasks attempted so far.
func (w *bulkWriter) write(ctx context.Context, tasks []task, progress func(done int)) ([]int, error) {
	out := make([]int, len(tasks))
	for i := range out {
		out[i] = outcomeNone
	}
	if len(tasks) == 0 {
		return out, nil
	}
	// Random UUIDs as asynq makes them (uuid.NewString), from one buffered
	// reader instead of a crypto/rand call each.
	w.ids = bufio.NewReaderSize(rand.Reader, 16*min(len(tasks), 4096))
	// asynq adds each queue to asynq:queues before its first task.
	seen := map[string]bool{}
	var queues []any
	for _, t := range tasks {
		if !seen[t.Queue] {
			seen[t.Queue] = true
			queues = append(queues, t.Queue)
		}
	}
	if err := w.rdb.SAdd(ctx, asynqdb.AllQueues, queues...).Err(); err != nil {
		return out, fmt.Errorf("register queues: %w", err)
	}
	if err := asynqdb.LoadScript(ctx, w.rdb); err != nil {
		return out, fmt.Errorf("load script: %w", err)
	}
	// Build batch k+1 (IDs, protobuf, arguments) while batch k runs.
	ctx, cancel := context.WithCancel(ctx)
	type built struct {
		start, end int
		calls      []*batchCall
		err        error
	}
	ready := make(chan built, 1)
	defer func() {
		cancel()
		for range ready { // wait for the builder to stop
		}
	}()
	go func() {
		defer close(ready)
		for start := 0; start < len(tasks); start += w.batch {
			end := min(start+w.batch, len(tasks))
			calls, err := w.build(tasks[start:end])
			select {
			case ready <- built{start, end, calls, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for b := range ready {
		if b.err != nil {
			return out, b.err
		}
		if err := context.Cause(ctx); err != nil {
			return out, err
		}
		if err := w.send(ctx, b.calls, out[b.start:b.end]); err != nil {
			return out, err
		}
		if progress != nil {
			progress(b.end)
		}
	}
	return out, nil
}

// build prepares one batch: one script call per queue.
func (w *bulkWriter) build(tasks []task) ([]*batchCall, error) {
	now := w.now()
	var calls []*batchCall
	byQueue := map[string]*batchCall{}
	for i, t := range tasks {
		c := byQueue[t.Queue]
		if c == nil {
			c = &batchCall{batch: asynqdb.NewBatch(t.Queue, now)}
			byQueue[t.Queue] = c
			calls = append(calls, c)
		}
		if err := c.add(i, t, now, w.ids); err != nil {
			return nil, err
		}
	}
	return calls, nil
}

// send runs one batch's calls in a single pipeline and fills out.
func (w *bulkWriter) send(ctx context.Context, calls []*batchCall, out []int) error {
	cmds := make([]*redis.Cmd, len(calls))
	pipe := w.rdb.Pipeline()
	for i, c := range calls {
		cmds[i] = c.batch.EvalSha(ctx, pipe)
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below
	var firstErr error
	for i, c := range calls {
		cmd := cmds[i]
		if err := cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			// The script cache was flushed mid-run: send the source.
			cmd = c.batch.Eval(ctx, w.rdb)
		}
		if err := record(cmd, c, out); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

// record stores the outcomes a batch call returned.
func record(cmd *redis.Cmd, c *batchCall, out []int) error {
	res, err := c.batch.Outcomes(cmd)
	if err != nil {
		return fmt.Errorf("write tasks: %w", err)
	}
	for j, n := range res {
		out[c.idx[j]] = int(n)
	}
	return nil
}
