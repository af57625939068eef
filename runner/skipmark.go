package runner

import (
	"context"
	_ "embed"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/taskmark"
)

var (
	//go:embed lua/skip_mark.lua
	skipMarkLua    string
	skipMarkScript = redis.NewScript(skipMarkLua)
)

// skipMarkTimeout bounds the note of a skip; it is informational.
const skipMarkTimeout = 2 * time.Second

// markSkipped notes on asynq's hash of a's task that it completes without
// running, and why, so that a producer waiting for it (enqueue --wait)
// says "skipped" instead of "completed". One script, on skips only; a
// failure is ignored (the task completes all the same).
func (r *Runner) markSkipped(ctx context.Context, a *Attempt, reason string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), skipMarkTimeout)
	defer cancel()
	_ = skipMarkScript.Run(ctx, r.cfg.Redis, []string{taskmark.TaskKey(a.Queue, a.TaskID)}, taskmark.SkippedField, reason).Err()
}
