package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jobrunner/jobrunner/internal/jobctx"
)

// CheckpointMax bounds the size of a checkpoint, JSON-encoded, in bytes
// (64 KiB). A checkpoint is a place to resume from (a cursor, an offset, the
// last ID done), not the work's data: keep that in your own store.
const CheckpointMax = 64 << 10

// Errors of Checkpoint and Resume. Each is returned wrapped, with details;
// test for them with errors.Is.
var (
	// ErrCheckpointTooLarge: the value's encoding is larger than
	// CheckpointMax. It comes wrapped in Permanent, since a retry would
	// meet it again: returned as is, it archives the job.
	ErrCheckpointTooLarge = errors.New("job: checkpoint too large")
	// ErrUnfenced: the job has neither a dedupe key nor a lock, so nothing
	// keeps two runs of it from writing its checkpoint at once (a run
	// after a drain's hand-over beside the abandoned handler, a redelivery
	// after lease recovery). Give the job a DedupeKey (ByTaskID works for
	// any job) or a Lock. It comes wrapped in Permanent: a configuration
	// error.
	ErrUnfenced = errors.New("job: no dedupe key and no lock fence this job's checkpoint (give the job a DedupeKey: job.ByTaskID works for any job)")
	// ErrFencedOut: the attempt no longer holds the job's dedupe marker or
	// lock: a newer attempt took the job over, or the lock expired. Nothing
	// was written; the attempt's context is cancelled, and the job,
	// whatever the handler returns, is deferred (reason lock_lost) without
	// spending an attempt.
	ErrFencedOut = errors.New("job: fenced out: this attempt no longer holds the job's dedupe marker or lock")
)

// Checkpoint saves v, encoded as JSON, as the job's checkpoint: the place a
// later attempt resumes from with Resume (after a drain's requeue, a retry,
// a copy re-enqueued on the last attempt, lease recovery after a crash). The
// checkpoint belongs to the job, not the attempt: to its dedupe key, or,
// for a job with only a lock, to its type and original task ID under the
// lock. It is removed when the job completes or is archived, and expires
// after the runner's Config.CheckpointTTL (24h by default) without a save
// or a resume. One Redis write per call.
//
// It is fenced: the write happens only while this attempt holds the job's
// dedupe marker or lock, checked in the same step, so an attempt that lost
// them cannot overwrite the place a newer attempt saved (ErrFencedOut). A
// job with neither gets ErrUnfenced. Save after a step is done, not before:
//
//	for i := start; i < len(items); i++ {
//		if err := process(ctx, items[i]); err != nil {
//			return err
//		}
//		if err := job.Checkpoint(ctx, i+1); err != nil {
//			return err
//		}
//	}
//
// Return its error as is: ErrFencedOut and an unreachable Redis (a
// *DeferError, reason store_unavailable) defer the job without spending an
// attempt, and it resumes from the last place saved; ErrCheckpointTooLarge
// and ErrUnfenced archive it. The write is bounded by a few seconds of its
// own and goes on after ctx is cancelled, so a handler cut short by a
// drain's hard phase can still save its place. Outside a job it returns an
// error.
func Checkpoint(ctx context.Context, v any) error {
	a := jobctx.From(ctx)
	if a == nil {
		return errors.New("job: Checkpoint outside a job's context")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("job: checkpoint: %w", err)
	}
	if len(b) > CheckpointMax {
		return Permanent(fmt.Errorf("%w: %d bytes encoded, over the %d-byte bound (job.CheckpointMax): save a cursor, not the data", ErrCheckpointTooLarge, len(b), CheckpointMax))
	}
	return a.Checkpoint(ctx, b)
}

// Resume loads the job's last checkpoint into v, as json.Unmarshal does,
// and reports whether there was one; v is untouched when there was none.
// Call it once, before the work starts: it costs one Redis read, and
// renews the checkpoint's TTL. Its errors are Checkpoint's, plus one for a
// checkpoint that does not decode into v (its type changed incompatibly
// between two deploys: decide whether to start over). Outside a job it
// returns an error.
func Resume(ctx context.Context, v any) (bool, error) {
	a := jobctx.From(ctx)
	if a == nil {
		return false, errors.New("job: Resume outside a job's context")
	}
	b, ok, err := a.Resume(ctx)
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("job: resume: the checkpoint does not decode into %T: %w", v, err)
	}
	return true, nil
}
