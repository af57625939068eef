package enqueue

import (
	"context"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
)

// readTaskInfo returns what asynq's Inspector.GetTaskInfo returns for the
// task, within ctx's deadline: --wait's polls and the API's GET read a
// task through it. A task that does not exist is asynqdb.ErrNotFound.
func readTaskInfo(ctx context.Context, rdb redis.Scripter, queue, id string, now time.Time) (*asynq.TaskInfo, error) {
	in, err := asynqdb.ReadInfo(ctx, rdb, queue, id, now)
	if err != nil {
		return nil, err
	}
	return &asynq.TaskInfo{
		ID: in.ID, Queue: in.Queue, Type: in.Type, Payload: in.Payload, Headers: in.Headers,
		State: taskStates[in.State], MaxRetry: in.MaxRetry, Retried: in.Retried, LastErr: in.LastErr,
		Group: in.Group, Timeout: in.Timeout, Deadline: in.Deadline, Retention: in.Retention,
		NextProcessAt: in.NextProcessAt, LastFailedAt: in.LastFailedAt, CompletedAt: in.CompletedAt,
		Result: in.Result,
	}, nil
}

// taskStates maps asynq's stored state names to its TaskState values.
var taskStates = map[string]asynq.TaskState{
	asynqdb.StatePending: asynq.TaskStatePending, asynqdb.StateActive: asynq.TaskStateActive,
	asynqdb.StateScheduled: asynq.TaskStateScheduled, asynqdb.StateRetry: asynq.TaskStateRetry,
	asynqdb.StateArchived: asynq.TaskStateArchived, asynqdb.StateCompleted: asynq.TaskStateCompleted,
	asynqdb.StateAggregating: asynq.TaskStateAggregating,
}
