package batchdb

// Prefix is the prefix of every key of batch id. The hash tag {batch:<id>}
// puts all of a batch's keys in one Cluster slot, so each script sees them
// together; different batches spread over the slots.
func Prefix(id string) string { return "jobrunner:{batch:" + id + "}:" }

// MetaKey is the hash of the batch's counts, state and callback.
func MetaKey(id string) string { return Prefix(id) + "meta" }

// MembersKey is the hash of the batch's members: member ID to "0" while
// not counted, then "s" (completed or skipped) or "a" (archived).
func MembersKey(id string) string { return Prefix(id) + "members" }

// ArchivedKey is the list of the task IDs of the batch's archived jobs, at
// most ArchivedIDsMax of them.
func ArchivedKey(id string) string { return Prefix(id) + "archived" }

func keys(id string) []string { return []string{MetaKey(id), MembersKey(id), ArchivedKey(id)} }

// CallbackTaskID is the asynq task ID of batch id's callback. It is fixed,
// so a repeated enqueue of the callback conflicts instead of running it
// twice (the task is kept for the batch's TTL after it completes, with
// asynq's Retention, to keep the ID taken).
func CallbackTaskID(id string) string { return "batch:" + id + ":callback" }

// IndexKey is the index of batches: a sorted set of batch IDs scored by
// when each was opened (Unix ms), the newest IndexMax kept, for the status
// page to find the batches in progress without scanning the keyspace. It
// is in a slot of its own (no hash tag shared with a batch), so Open writes
// it with a command of its own after the open script, not in it.
const IndexKey = "jobrunner:batches"

const (
	// IndexMax bounds the index: the batches opened first are dropped
	// beyond it.
	IndexMax = 1000
	// IndexTTL is how long the index lives at least after the last batch
	// opened: the default batch TTL (longer when a batch opened with a
	// longer TTL: the index's TTL only grows).
	IndexTTL = TTLDefault
)
