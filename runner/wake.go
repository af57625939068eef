package runner

import (
	"context"
	"time"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
)

// wake runs a task that waits in asynq's retry or scheduled set now, and
// does nothing to a task in any other state. It reports whether it moved
// the task.
func (r *Runner) wake(ctx context.Context, queue, id string) bool {
	moved, err := asynqdb.Wake(ctx, r.cfg.Redis, queue, id, time.Now())
	return err == nil && moved
}
