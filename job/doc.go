// Package job defines typed background jobs: a task type name, a strict JSON
// payload decoder and the handler that runs it, plus the hooks the worker's
// middleware reads (dedupe key, lock, breaker dependencies, retry backoff).
//
// A definition is generic over its payload type; the runner sees it through
// the [Spec] interface, and a [Registry] maps task type names to specs.
// Payloads stay plain JSON bytes with no envelope, so a task enqueued by any
// asynq client runs, and asynqmon and the asynq CLI read our queues as they
// are.
//
// # Defining a job
//
//	type Email struct {
//		To string `json:"to"`
//	}
//
//	func (e Email) Validate() error {
//		if e.To == "" {
//			return job.FieldError("to", "is required")
//		}
//		return nil
//	}
//
//	var SendEmail = &job.Definition[Email]{
//		Type:   "email.send",
//		Handle: func(ctx context.Context, e Email) error { return send(ctx, e) },
//		DedupeKey: func(e Email) string { return "email:" + e.To },
//	}
//
// # Strict decoding
//
// Unknown fields, wrong types, trailing data, an empty payload, a payload of
// null and a key given twice in one object (at any depth; encoding/json
// would silently keep the last) are rejected, and when the payload type has
// a Validate() error method it is called. Every such error is a
// [*PayloadError] naming the field (for a duplicate key, its path, such as
// "ship.zip"); the worker archives the task at once instead of retrying it.
// The enqueue CLI decodes with the same definitions, so it refuses the same
// payloads before they reach Redis.
//
// # Inside a handler
//
// A handler needs this package only. It returns nil to complete the job, an
// error to fail the attempt (retried after the job's Backoff: RetryLong by
// default, 25 retries over about three weeks), or says more with:
//
//   - Permanent(err): archive now, the request is wrong;
//   - RetryAfter(err, d): retry after the callee's hint;
//   - Defer(reason, d, err): run again later without spending an attempt;
//   - ErrInterrupted, after Draining fired: requeued, no attempt spent.
//
// and reaches its attempt with WriteResult (the job's result bytes), Fence
// (the fencing token of its lock), Call (record a call to a dependency
// through its circuit breaker) and Draining. The runner puts what these
// read in the job's context; outside a job they do nothing harmful.
//
// # Long jobs
//
// A job that runs for minutes saves its place with Checkpoint (a small
// JSON value, fenced by the job's dedupe marker or lock) and, on its next
// attempt (after a drain, a retry, a crash), loads it with Resume; the
// checkpoint goes when the job completes or is archived. Progress reports
// how far it is (enqueue --wait shows it), and Log is the worker's logger
// with the job's fields:
//
//	var cursor string
//	if _, err := job.Resume(ctx, &cursor); err != nil {
//		return err
//	}
//	for {
//		next, err := exportAfter(ctx, cursor) // one batch, idempotent
//		if err != nil || next == "" {
//			return err // "": done, and the checkpoint goes with the completion
//		}
//		cursor = next
//		if err := job.Checkpoint(ctx, cursor); err != nil {
//			return err
//		}
//	}
//
// A step between two checkpoints may run again after a crash: make it
// idempotent or fence it. See docs/jobs.md#long-jobs.
//
// # Batches
//
// NewBatch opens a batch with a callback (OnComplete); Definition.EnqueueIn
// adds jobs to it and Batch.Close closes it. The callback is enqueued
// exactly once, when every job of the batch finished for good (completed,
// skipped as a duplicate, or archived), and reads the outcome with
// BatchOf. See docs/batches.md.
//
// # Error text
//
// Error texts leave the worker through a [Sanitizer] (the runner's
// Config.Sanitize), which blanks the secrets Go's errors commonly carry:
// URL userinfo and query values, Bearer and Basic credentials, values of
// secret-named keys. Payloads and results are never rewritten, so keep
// secrets out of them: pass a reference and look the secret up.
//
// See docs/jobs.md for defining jobs and what a handler returns.
package job
