package runner

import (
	"context"
	"time"

	"github.com/jobrunner/jobrunner/schedule"
)

// tickRef identifies the tick of a schedule that an attempt runs.
type tickRef struct {
	schedule string // the schedule's name
	tick     string // the tick, RFC 3339 in UTC, as in HeaderTick
	taskID   string // the tick's task ID, the same on every replica
}

// tickOf reports the tick a's task was enqueued for, when it is a
// schedule's tick: its headers name a schedule and a tick, and the task,
// or the task it is a copy of (a deferral on the last attempt, a drain's
// hand-over), has that tick's ID. The ID is checked so that a task that
// merely carries copied headers is not taken for the tick.
func tickOf(a *Attempt) (tickRef, bool) {
	h := a.Task.Headers()
	name, v := h[HeaderSchedule], h[HeaderTick]
	if name == "" || v == "" {
		return tickRef{}, false
	}
	at, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return tickRef{}, false
	}
	id := schedule.TaskID(name, at)
	if a.OriginID() != id {
		return tickRef{}, false
	}
	return tickRef{schedule: name, tick: v, taskID: id}, true
}

// tickDedupeKey scopes the dedupe key of a schedule's tick to the tick. A
// schedule enqueues the same fixed payload at every tick, so a key derived
// from the payload would be the same for all of them, and every tick after
// the first would be skipped as a duplicate within the dedupe window (a
// nightly job run once, then skipped for 24h). A tick is a new run; the
// key still guards it against running twice (two replicas, a redelivery, a
// copy): every run of one tick has the same scoped key.
func tickDedupeKey(a *Attempt, key string) string {
	if t, ok := tickOf(a); ok {
		return key + "@" + t.taskID
	}
	return key
}

// tickSkipped makes a schedule's tick that ended skipped visible: a warn
// line (schedule.tick_skipped) and jobrunner_schedule_ticks_skipped_total.
// With dedupe keys scoped to the tick, such a tick is a duplicate of one
// that already ran (a redelivery, or a worker of an older version).
func (r *Runner) tickSkipped(a *Attempt, reason string) {
	t, ok := tickOf(a)
	if !ok {
		return
	}
	r.metrics.ticksSkipped.WithLabelValues(r.scheduleLabel(t.schedule), reason).Inc()
	r.log.Warn().Str("event", "schedule.tick_skipped").Str("schedule", t.schedule).Str("tick", t.tick).
		Str("task_id", a.TaskID).Str("type", a.Type).Str("reason", reason).
		Msg("a schedule's tick ended skipped instead of running")
}

// scheduleLabel is the schedule label of the runner's metrics for a
// schedule named in a task's header: the name of a schedule this runner
// has, else "other", so that headers cannot grow the label's values.
func (r *Runner) scheduleLabel(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.schedules {
		if e.Name == name {
			return name
		}
	}
	return scheduleOther
}

// scheduleOther is the schedule label of ticks of schedules this runner
// does not have.
const scheduleOther = "other"

// holdTick records a's tick as enqueued in its schedule's record
// (schedule_hold.lua: the last-tick key, which only moves forward, and the
// schedule's held ticks) before a's task is revoked for a copy: the revoke
// frees the tick's task ID, and a replica reaching the tick late would
// enqueue it again, since its enqueue conflicts by ID. The scheduler reads
// the record before each enqueue, so the record is what conflicts then.
// Its enqueuer recorded the tick already, unless it died between the
// enqueue and the record; the held ticks answer a replica that reaches the
// tick after a later tick was recorded. A failed write is logged; the copy
// goes on.
func (r *Runner) holdTick(ctx context.Context, a *Attempt) {
	t, ok := tickOf(a)
	if !ok {
		return
	}
	at, err := time.Parse(time.RFC3339, t.tick)
	if err != nil {
		return
	}
	ttl := lastTickTTLMin
	r.mu.Lock()
	for _, e := range r.schedules {
		if e.Name == t.schedule {
			ttl = max(ttl, time.Duration(e.CatchUp+2)*e.Period(at))
		}
	}
	r.mu.Unlock()
	err = scheduleHoldScript.Run(ctx, r.cfg.Redis, []string{lastKey(t.schedule), heldKey(t.schedule)},
		at.Unix(), ttl.Milliseconds(), at.Add(-heldTickKeep).Unix(), heldTickKeep.Milliseconds()).Err()
	if err != nil {
		r.log.Warn().Str("event", "schedule.record_failed").Str("schedule", t.schedule).Str("tick", t.tick).
			Str("task_id", a.TaskID).Err(r.sanitize(err)).
			Msg("a tick re-enqueued as a copy was not recorded; a replica reaching the tick late may enqueue it again")
	}
}
