package asynqdb

import (
	"context"
	_ "embed"
	"time"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed lua/wake.lua
	wakeLua    string
	wakeScript = redis.NewScript(wakeLua)

	//go:embed lua/release_unique.lua
	releaseUniqueLua    string
	releaseUniqueScript = redis.NewScript(releaseUniqueLua)
)

// Wake runs a task that waits in its queue's retry or scheduled set now, as
// asynq's forwarder would once it is due, and leaves a task in any other
// state alone (unlike Inspector.RunTask, which would run a completed task
// kept for its retention again). It reports whether it moved the task.
func Wake(ctx context.Context, rdb redis.Scripter, queue, id string, now time.Time) (bool, error) {
	keys := []string{TaskKey(queue, id), PendingKey(queue), RetryKey(queue), ScheduledKey(queue)}
	n, err := wakeScript.Run(ctx, rdb, keys, id, now.UnixNano()).Int64()
	return n == 1, err
}

// ReleaseUnique frees the uniqueness lock (asynq's Unique option) that task
// id holds for its type and payload, so that a copy replacing the task can
// take it with asynq's own option. It returns the lock's remaining time, or
// 0 when id did not hold it (no Unique option, or the lock expired).
func ReleaseUnique(ctx context.Context, rdb redis.Scripter, queue, typ string, payload []byte, id string) (time.Duration, error) {
	ms, err := releaseUniqueScript.Run(ctx, rdb, []string{UniqueKey(queue, typ, payload)}, id).Int64()
	if err != nil {
		return 0, err
	}
	return time.Duration(ms) * time.Millisecond, nil
}
