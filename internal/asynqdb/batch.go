package asynqdb

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/enqueue_batch.lua
	enqueueBatchLua    string
	enqueueBatchScript = redis.NewScript(enqueueBatchLua)
)

// errShape is returned for a script reply of an unexpected shape.
var errShape = errors.New("asynqdb: unexpected script reply")

// Outcomes of one task of a Batch, as asynq's enqueue scripts return them.
const (
	Wrote      = 1  // the task was written
	IDConflict = 0  // a task with its ID exists (asynq.ErrTaskIDConflict)
	NotUnique  = -1 // its uniqueness lock is held (asynq.ErrDuplicateTask)
)

// Batch is one call of the batch enqueue script: tasks of one queue, each
// written exactly as asynq v0.26's Client.Enqueue writes it (the script
// repeats the bodies of asynq's enqueue scripts), atomically. All its keys
// carry the queue's hash tag, so one call stays in one Redis Cluster slot.
// The queue must be in AllQueues before (asynq's Client adds it).
type Batch struct {
	keys []string
	args []any
	n    int
}

// NewBatch starts a batch for queue; now is the pending_since of the tasks
// that are ready at once.
func NewBatch(queue string, now time.Time) *Batch {
	return &Batch{keys: []string{PendingKey(queue), ScheduledKey(queue)}, args: []any{now.UnixNano()}}
}

// Add adds the task m (m.ID and m.Queue set; m.UniqueKey is set here when
// unique is positive), ready at processAt: now or earlier is pending,
// later is scheduled. unique is the uniqueness lock's TTL (asynq's Unique
// option), counted from processAt.
func (b *Batch) Add(m *Message, processAt, now time.Time, unique time.Duration) {
	if unique > 0 {
		m.UniqueKey = UniqueKey(m.Queue, m.Type, m.Payload)
	}
	msg := AppendMessage(make([]byte, 0, MessageSize(m)), m)
	tk := TaskKey(m.Queue, m.ID)
	switch {
	case processAt.After(now) && unique > 0:
		ttl := processAt.Add(unique).Sub(now)
		b.keys = append(b.keys, m.UniqueKey, tk)
		b.args = append(b.args, "su", m.ID, msg, int(ttl.Seconds()), processAt.Unix())
	case processAt.After(now):
		b.keys = append(b.keys, tk)
		b.args = append(b.args, "s", m.ID, msg, processAt.Unix())
	case unique > 0:
		b.keys = append(b.keys, m.UniqueKey, tk)
		b.args = append(b.args, "eu", m.ID, msg, int(unique.Seconds()))
	default:
		b.keys = append(b.keys, tk)
		b.args = append(b.args, "e", m.ID, msg)
	}
	b.n++
}

// Len returns the number of tasks added.
func (b *Batch) Len() int { return b.n }

// LoadScript loads the batch script into the server's script cache, so
// that a pipeline can send EvalSha.
func LoadScript(ctx context.Context, rdb redis.Scripter) error {
	return enqueueBatchScript.Load(ctx, rdb).Err()
}

// EvalSha queues the batch's script call by its hash on p.
func (b *Batch) EvalSha(ctx context.Context, p redis.Pipeliner) *redis.Cmd {
	return p.EvalSha(ctx, enqueueBatchScript.Hash(), b.keys, b.args...)
}

// Eval runs the batch's script, sending its source if the server's script
// cache lost it.
func (b *Batch) Eval(ctx context.Context, rdb redis.Scripter) *redis.Cmd {
	return enqueueBatchScript.Eval(ctx, rdb, b.keys, b.args...)
}

// Outcomes returns the outcome of each task of the batch, in Add's order,
// from its script call's reply.
func (b *Batch) Outcomes(cmd *redis.Cmd) ([]int64, error) {
	res, err := cmd.Int64Slice()
	if err != nil {
		return nil, err
	}
	if len(res) != b.n {
		return nil, fmt.Errorf("%w: %d results for %d tasks", errShape, len(res), b.n)
	}
	for _, n := range res {
		if n != Wrote && n != IDConflict && n != NotUnique {
			return nil, fmt.Errorf("%w: result %d", errShape, n)
		}
	}
	return res, nil
}
