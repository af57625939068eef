package docs_test

import (
	"context"
	"time"

	"github.com/jobrunner/jobrunner/job"
)

// snippet longjob
type Backfill struct {
	Table string `json:"table"`
}

var BackfillTable = &job.Definition[Backfill]{
	Type:      "table.backfill",
	Handle:    backfill,
	Timeout:   2 * time.Hour,
	DedupeKey: job.ByTaskID[Backfill], // fences the checkpoint (a dedupe key or a lock does too)
}

// place is the checkpoint: where the next attempt starts.
type place struct {
	AfterID int64 `json:"after_id"`
	Rows    int   `json:"rows"`
}

func backfill(ctx context.Context, p Backfill) error {
	var at place
	if _, err := job.Resume(ctx, &at); err != nil { // a fresh job leaves at as it is
		return err
	}
	total, err := countRows(ctx, p.Table)
	if err != nil {
		return err
	}
	for {
		select {
		case <-job.Draining(ctx):
			return job.ErrInterrupted // requeued now, no attempt spent; resumes at the checkpoint
		default:
		}
		ids, err := nextIDs(ctx, p.Table, at.AfterID, 500) // a checkpoint every 500 rows
		if err != nil {
			return err // retried with backoff; the retry resumes at the checkpoint
		}
		if len(ids) == 0 {
			return nil // done: the checkpoint goes with the completion
		}
		if err := rewriteRows(ctx, p.Table, ids); err != nil { // idempotent: may run twice
			return err
		}
		at.AfterID, at.Rows = ids[len(ids)-1], at.Rows+len(ids)
		if err := job.Checkpoint(ctx, at); err != nil {
			return err // fenced out, or Redis away: deferred, no attempt spent
		}
		job.Progress(ctx, at.Rows, total) // enqueue --wait shows it
		job.Log(ctx).Info().Str("event", "backfill.batch").Int("rows", at.Rows).Msg("batch rewritten")
	}
}

// end snippet

func countRows(context.Context, string) (int, error)               { return 0, nil }
func nextIDs(context.Context, string, int64, int) ([]int64, error) { return nil, nil }
func rewriteRows(context.Context, string, []int64) error           { return nil }
