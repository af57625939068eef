package fleet

import (
	"strconv"
	"time"
)

// Headers of a copy of a task that the runner re-enqueues when a job is
// deferred on its last attempt (where asynq would archive it). The copy
// waits in the scheduled set, not the retry set, until it is due.
const (
	// HeaderOrigin carries the original task's ID.
	HeaderOrigin = "jobrunner-origin"
	// HeaderRequeues counts the copies made of the original so far.
	HeaderRequeues = "jobrunner-requeues"
	// HeaderDeferral carries the reason of the deferral that made the
	// copy.
	HeaderDeferral = "jobrunner-deferral"
)

// DeferralKey is the Redis key of a job's deferral note, where the runner
// notes when the job's current run of deferrals began (a hash {since: Unix
// ms, n: deferrals}) to bound it by MaxDeferral: one per task origin and
// retry budget left (its MaxRetry less its failed attempts).
func DeferralKey(origin string, left int) string {
	return "jobrunner:deferral:{" + origin + "}:" + strconv.Itoa(left)
}

// ScheduleLastKey is the Redis key of a schedule's last enqueued tick, in
// Unix seconds.
func ScheduleLastKey(name string) string { return "jobrunner:schedule:{" + name + "}:last" }

// ScheduleSkippedKey is the Redis key of a schedule's last tick skipped on
// purpose (an overlap, or missed ticks the policy dropped), in Unix
// seconds.
func ScheduleSkippedKey(name string) string { return "jobrunner:schedule:{" + name + "}:skipped" }

// ScheduleHeldKey is the Redis key of a schedule's held ticks: a sorted set
// of the recent ticks whose task was re-enqueued as a copy (deferred on its
// last attempt), which freed the tick's task ID; scored by the tick in Unix
// seconds.
func ScheduleHeldKey(name string) string { return "jobrunner:schedule:{" + name + "}:held" }

// TickValue reads a tick in Unix seconds, as the schedule keys hold it;
// anything else reads as unset (the zero time).
func TickValue(v any) time.Time {
	str, ok := v.(string)
	if !ok {
		return time.Time{}
	}
	sec, err := strconv.ParseInt(str, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}
