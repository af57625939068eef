package asynqdb

import (
	"context"
	_ "embed"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/queue_stats.lua
	queueStatsLua    string
	queueStatsScript = redis.NewScript(queueStatsLua)

	//go:embed lua/set_field.lua
	setFieldLua    string
	setFieldScript = redis.NewScript(setFieldLua)
)

// QueueStates are the task states QueueCounts counts, in its order.
var QueueStates = [...]string{StatePending, StateActive, StateScheduled, StateRetry, StateArchived, StateCompleted}

// QueueCounts is one reading of a queue.
type QueueCounts struct {
	// Tasks counts the queue's tasks by state, in QueueStates' order.
	Tasks [len(QueueStates)]int64
	// OldestPending is when the oldest pending task became pending; zero
	// when none is.
	OldestPending time.Time
}

// ReadQueue reads a queue's task counts by state and the age of its oldest
// pending task in one script, as asynq's Inspector.GetQueueInfo does
// without the memory sampling that call adds, within ctx's deadline (that
// call takes no context).
func ReadQueue(ctx context.Context, rdb redis.Scripter, queue string) (QueueCounts, error) {
	keys := make([]string, len(QueueStates))
	for i, s := range QueueStates {
		keys[i] = QueuePrefix(queue) + s
	}
	vals, err := queueStatsScript.Run(ctx, rdb, keys, TaskKey(queue, "")).Slice()
	if err != nil {
		return QueueCounts{}, err
	}
	var c QueueCounts
	if len(vals) != len(QueueStates)+1 {
		return c, errShape
	}
	for i := range QueueStates {
		c.Tasks[i], _ = vals[i].(int64)
	}
	if s, _ := vals[len(QueueStates)].(string); s != "0" {
		if ns, err := strconv.ParseInt(s, 10, 64); err == nil && ns > 0 {
			c.OldestPending = time.Unix(0, ns)
		}
	}
	return c, nil
}

// SkippedField is the field of asynq's task hash in which the runner notes
// why a task completed without running (a duplicate skipped by its dedupe
// key, "duplicate_done"), for a producer waiting on it (enqueue --wait).
// The field lives and dies with asynq's hash: deleted at once without
// retention, kept for the retention otherwise.
const SkippedField = "jobrunner_skipped"

// MarkSkipped notes reason in the task's SkippedField, if the task exists:
// a task deleted meanwhile is not recreated as a stray key.
func MarkSkipped(ctx context.Context, rdb redis.Scripter, queue, id, reason string) error {
	return setFieldScript.Run(ctx, rdb, []string{TaskKey(queue, id)}, SkippedField, reason).Err()
}

// SkippedReason returns the reason MarkSkipped noted on the task, or "".
func SkippedReason(ctx context.Context, rdb redis.Cmdable, queue, id string) (string, error) {
	r, err := rdb.HGet(ctx, TaskKey(queue, id), SkippedField).Result()
	if err == redis.Nil {
		return "", nil
	}
	return r, err
}
