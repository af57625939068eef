package job

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/jobctx"
)

// Log returns the worker's logger with the job's fields: task_id, type,
// queue and attempt, as the runner's own lines about the job carry them,
// so a handler's lines can be found beside them. Give each line an event
// name of your own:
//
//	job.Log(ctx).Info().Str("event", "export.batch").Int("rows", n).Msg("batch exported")
//
// Outside a job it returns a disabled logger.
func Log(ctx context.Context) *zerolog.Logger {
	if a := jobctx.From(ctx); a != nil {
		return a.Log()
	}
	l := zerolog.Nop()
	return &l
}
