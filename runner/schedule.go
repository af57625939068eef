package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/schedule"
)

// Headers of the tasks a schedule enqueues, for operators (asynqmon shows
// them) and for middleware (Attempt.Task.Headers()).
const (
	// HeaderSchedule carries the name of the schedule that enqueued the
	// task.
	HeaderSchedule = "jobrunner-schedule"
	// HeaderTick carries the tick the task was enqueued for, RFC 3339 in
	// UTC.
	HeaderTick = "jobrunner-tick"
)

// headerScheduleLock marks the tick of a schedule declared NoOverlap; its
// value is the TTL of the schedule's lock, a Go duration.
const headerScheduleLock = "jobrunner-schedule-lock"

// Schedule adds periodic jobs: every replica that runs them enqueues each
// tick, and all but the first enqueue of a tick conflict and do nothing
// (see schedule.Entry.TaskID). Each schedule is compiled against the
// runner's registry, so its job type must be registered first; Schedule
// must be called before Start. Two schedules may not have the same name.
func (r *Runner) Schedule(ss ...schedule.Schedule) error {
	if r.started.Load() {
		return errors.New("runner: Schedule after Start")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]bool, len(r.schedules)+len(ss))
	for _, e := range r.schedules {
		seen[e.Name] = true
	}
	var add []*schedule.Entry
	for _, s := range ss {
		e, err := schedule.Compile(s, r.registry)
		if err != nil {
			return fmt.Errorf("runner: schedule %q %s: %w", s.Spec, s.Type, err)
		}
		if seen[e.Name] {
			return fmt.Errorf("runner: schedule %q is declared twice", e.Name)
		}
		seen[e.Name] = true
		add = append(add, e)
	}
	r.schedules = append(r.schedules, add...)
	return nil
}

// startScheduler starts the loop that enqueues the schedules' ticks, if
// there are any.
func (r *Runner) startScheduler(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.schedules) == 0 {
		return
	}
	r.sched = newScheduler(schedulerParams{
		client: r.client, redis: r.cfg.Redis, registry: r.registry,
		log: r.log, lastTick: r.metrics.scheduleLastTick, skipped: r.metrics.ticksSkipped, now: r.cfg.Now, entries: r.schedules,
	})
	for _, e := range r.schedules {
		// From zero, so that an alert on increase() sees the first skip.
		for _, reason := range []string{skipMissed, skipOverlap, reasonDuplicateDone} {
			r.metrics.ticksSkipped.WithLabelValues(e.Name, reason)
		}
	}
	r.sched.start(ctx)
}

// stopScheduler stops enqueuing ticks; a drain calls it first thing. It
// waits for an enqueue in progress to end.
func (r *Runner) stopScheduler() {
	r.mu.Lock()
	s := r.sched
	r.mu.Unlock()
	if s != nil {
		s.shutdown()
	}
}

// scheduleLock gives the tick of a schedule declared NoOverlap the
// schedule's lock, unless its job type has a lock of its own (whose key,
// derived from the schedule's fixed payload, serialises the ticks anyway).
// The lock is tried once: a busy lock defers the tick (lock_busy) by about
// a third of its TTL instead of holding a worker slot, and the scheduler
// skips further ticks while it waits.
func scheduleLock(a *Attempt) {
	h := a.Task.Headers()
	v, name := h[headerScheduleLock], h[HeaderSchedule]
	if v == "" || name == "" || a.prepared.Lock.Key != "" {
		return
	}
	ttl, err := time.ParseDuration(v)
	if err != nil || ttl <= 0 {
		ttl = lockcore.LockTTLDefault
	}
	a.prepared.Lock = job.Lock{Key: scheduleLockKey(name), TTL: ttl, Wait: -1}
}

// scheduleLockKey is the lock key of a schedule declared NoOverlap.
func scheduleLockKey(name string) string { return "schedule:" + name }

// scheduleLockTTL is the TTL of the lock of a schedule with the given
// period: the period, within 3s and lockcore.LockTTLDefault, so that a
// tick deferred by a busy lock comes back about a third of that later (a
// second for a schedule of seconds, 10s for one of minutes or more).
func scheduleLockTTL(period time.Duration) time.Duration {
	return min(max(period, 3*time.Second), lockcore.LockTTLDefault)
}
