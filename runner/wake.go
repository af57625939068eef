package runner

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
)

// wake runs a task that waits in asynq's retry or scheduled set now, and
// does nothing to a task in any other state. It reports whether it moved
// the task.
func (r *Runner) wake(ctx context.Context, queue, id string) bool {
	prefix := "asynq:{" + queue + "}:"
	keys := []string{prefix + "t:" + id, prefix + "pending", prefix + "retry", prefix + "scheduled"}
	n, err := wakeScript.Run(ctx, r.cfg.Redis, keys, id, time.Now().UnixNano()).Int64()
	return err == nil && n == 1
}
