package job_test

import (
	"context"
	"fmt"

	"github.com/jobrunner/jobrunner/job"
)

type Export struct {
	Account string `json:"account"`
}

// exportBatch writes rows after the cursor to the export and returns the
// next cursor ("" at the end) and how many rows it wrote: your code.
func exportBatch(ctx context.Context, account, after string) (next string, rows int, err error) {
	return "", 0, nil
}

// A long job saves its place every batch: a run after a rollout's drain, a
// retry or a crash resumes there instead of starting over. Its dedupe key
// fences the checkpoint (job.ByTaskID works for any job).
func Example_longJob() {
	export := func(ctx context.Context, p Export) error {
		var place struct {
			After string `json:"after"`
			Rows  int    `json:"rows"`
		}
		if _, err := job.Resume(ctx, &place); err != nil {
			return err
		}
		for {
			select {
			case <-job.Draining(ctx):
				return job.ErrInterrupted // requeued at once, no attempt spent
			default:
			}
			next, rows, err := exportBatch(ctx, p.Account, place.After)
			if err != nil {
				return err // retried; the retry resumes from place
			}
			place.After, place.Rows = next, place.Rows+rows
			if next == "" {
				return nil // done: the checkpoint goes with the completion
			}
			if err := job.Checkpoint(ctx, place); err != nil {
				return err
			}
			job.Log(ctx).Info().Str("event", "export.batch").Int("rows", place.Rows).Msg("batch exported")
		}
	}
	def := &job.Definition[Export]{
		Type:      "account.export",
		Handle:    export,
		DedupeKey: func(p Export) string { return p.Account },
	}
	fmt.Println(def.Type)
	// Output: account.export
}
