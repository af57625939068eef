package runner

import (
	"context"
	"time"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
)

// skipMarkTimeout bounds the note of a skip; it is informational.
const skipMarkTimeout = 2 * time.Second

// markSkipped notes on asynq's hash of a's task that it completes without
// running, and why, so that a producer waiting for it (enqueue --wait)
// says "skipped" instead of "completed". One script, on skips only; a
// failure is ignored (the task completes all the same).
func (r *Runner) markSkipped(ctx context.Context, a *Attempt, reason string) {
	ctx, cancel := r.detached(ctx, skipMarkTimeout)
	defer cancel()
	_ = asynqdb.MarkSkipped(ctx, r.cfg.Redis, a.Queue, a.TaskID, reason)
}
