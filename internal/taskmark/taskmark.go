// Package taskmark is how the runner tells a producer that a task completed
// without running: the runner writes the reason into a field of asynq's
// own hash of the task (beside asynq's "result"), and the enqueue CLI's
// --wait reads it. The field lives and dies with asynq's hash: deleted at
// once without retention, kept for the retention otherwise.
package taskmark

// SkippedField is the field of asynq's task hash that holds the reason a
// task completed without running, e.g. "duplicate_done".
const SkippedField = "jobrunner_skipped"

// TaskKey is the key of asynq v0.26's hash of task id on queue (its
// base.TaskKey).
func TaskKey(queue, id string) string { return "asynq:{" + queue + "}:t:" + id }
