package job

import (
	"context"

	"github.com/jobrunner/jobrunner/internal/jobctx"
)

// Progress records how far the job is: done of total units (items, rows,
// bytes; total 0 when unknown). A producer waiting with `enqueue --wait`
// sees it (a bar with a rate and an estimate on a terminal, JSON lines
// with --output json), and the attempt's span gets a progress event. It is
// cheap to call per item: the runner keeps the last value and writes it to
// Redis at most twice a second per job (and when done reaches total), and
// a write that fails is dropped, never failing the job. Outside a job it
// does nothing.
func Progress(ctx context.Context, done, total int) {
	if a := jobctx.From(ctx); a != nil {
		a.Progress(ctx, done, total)
	}
}
