package faulttest

import (
	"context"
	"errors"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/job"
)

// TickType is the task type of TickJob.
const TickType = "fault.tick"

// TickPayload is fault.tick's payload. A schedule enqueues the same
// payload at every tick, so the ledger names each run by its task ID.
type TickPayload struct {
	// MS is how long the handler works, in milliseconds.
	MS int `json:"ms,omitempty"`
}

// Validate checks the payload's fields.
func (p TickPayload) Validate() error {
	if p.MS < 0 {
		return job.FieldError("ms", "must be >= 0, got %d", p.MS)
	}
	return nil
}

// TickJob returns the fault.tick definition reporting to l as process proc:
// the job of a schedule's ticks. Its ledger ID and its ledger dedupe key
// are its task ID (a tick's task ID is schedule:<name>:<tick>), and it
// dedupes on its task ID (job.ByTaskID), as the README advises for a
// scheduled job whose rerun would hurt; so the ledger's Done and Effects
// count the runs of each tick.
func TickJob(l *Ledger, proc string) *job.Definition[TickPayload] {
	w := &worker{ledger: l, proc: proc, runPrefix: "t"}
	return &job.Definition[TickPayload]{
		Type: TickType,
		Handle: func(ctx context.Context, p TickPayload) error {
			id, ok := asynq.GetTaskID(ctx)
			if !ok {
				return job.Permanent(errors.New("fault.tick: no task ID in the job's context"))
			}
			return w.handle(ctx, WorkPayload{ID: id, MS: p.MS, Dedupe: id})
		},
		Timeout:   30 * time.Second,
		MaxRetry:  10,
		Backoff:   WorkRetryDelay,
		DedupeKey: job.ByTaskID[TickPayload],
	}
}
