package runner

import (
	"context"
	_ "embed"
	"errors"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/schedule"
)

// Timings of the scheduler.
const (
	// tickStartGrace: when a schedule starts on a replica, a tick at most
	// this old that no replica recorded is enqueued as late; older ones
	// were missed while no replica ran, and the schedule's policy decides.
	tickStartGrace = time.Second
	// tickLateMax: a running scheduler enqueues every tick it reaches
	// within this of the tick's time (a slow or starved loop). A tick it
	// reaches later (the process was paused, the clock stepped) counts as
	// missed. The retention of a tick's task covers it.
	tickLateMax = time.Minute
	// tickRetry is how soon a tick whose enqueue failed is tried again.
	tickRetry = time.Second
	// tickSleepMax caps one sleep of the loop, so that a clock step is
	// noticed.
	tickSleepMax = time.Minute
	// tickRedisTimeout bounds each Redis call of the scheduler.
	tickRedisTimeout = 5 * time.Second
	// tickStopGrace is how long shutdown lets a Redis call in progress
	// finish before aborting it.
	tickStopGrace = time.Second
	// lastTickTTLMin is the shortest TTL of a schedule's last-tick record:
	// a schedule off every replica for longer forgets its missed ticks.
	lastTickTTLMin = 7 * 24 * time.Hour
	// tickScanMax bounds the missed ticks counted after an outage.
	tickScanMax = 1_000_000
)

// Reasons of schedule.skipped.
const (
	skipMissed  = "missed"  // the tick passed while no replica ran the schedule
	skipOverlap = "overlap" // NoOverlap: an earlier tick still waits to run
)

// scheduler is the background loop that enqueues the ticks of the runner's
// schedules. Every replica runs one, without a leader: a tick's task ID is
// the same on every replica, so all but the first enqueue conflict
// (asynq.ErrTaskIDConflict) and do nothing, and the task is kept after it
// completes (asynq.Retention: the time to the next tick plus tickLateMax)
// so that a late replica's enqueue still conflicts.
//
// Each schedule records its last enqueued tick in Redis (schedule_last.lua,
// after the enqueue). A replica starting reads it: the ticks after it that
// are older than tickStartGrace were missed while no replica ran, and the
// schedule's CatchUp decides (skip them, or enqueue the most recent N). A
// crash between an enqueue and its record makes a later start try that
// tick again, which conflicts while the task is retained.
type scheduler struct {
	client   *asynq.Client
	redis    redis.UniversalClient
	log      zerolog.Logger
	lastTick *prometheus.GaugeVec
	skipped  *prometheus.CounterVec // may be nil
	now      func() time.Time
	ticks    []*ticker

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	cancel   context.CancelFunc // aborts the Redis calls in progress, set by start
}

// schedulerParams are newScheduler's inputs.
type schedulerParams struct {
	client   *asynq.Client
	redis    redis.UniversalClient
	registry *job.Registry
	log      zerolog.Logger
	lastTick *prometheus.GaugeVec   // jobrunner_schedule_last_tick_timestamp_seconds
	skipped  *prometheus.CounterVec // jobrunner_schedule_ticks_skipped_total; nil counts nothing
	now      func() time.Time
	entries  []*schedule.Entry
}

// ticker is one schedule's state in the loop.
type ticker struct {
	e      *schedule.Entry
	opts   job.Options
	cursor time.Time // every tick up to it has been handled
	// started is set once the schedule's last-tick record has been read.
	started bool
}

func newScheduler(p schedulerParams) *scheduler {
	s := &scheduler{
		client: p.client, redis: p.redis, lastTick: p.lastTick, skipped: p.skipped, now: p.now,
		log:  p.log.With().Str("component", "scheduler").Logger(),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	for _, e := range p.entries {
		t := &ticker{e: e}
		if spec, ok := p.registry.Lookup(e.Type); ok {
			t.opts = spec.Options()
		}
		s.ticks = append(s.ticks, t)
	}
	return s
}

// start runs the loop in its own goroutine until shutdown. ctx's values
// reach the Redis calls; its cancellation does not stop the loop.
func (s *scheduler) start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(s.done)
		defer s.cancel()
		for {
			wake := s.pass(ctx, s.now())
			t := time.NewTimer(min(max(wake.Sub(s.now()), time.Millisecond), tickSleepMax))
			select {
			case <-s.stop:
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
}

// shutdown stops the loop and waits for it: no further tick is enqueued.
// An enqueue in progress may finish within tickStopGrace (Redis answers in
// a millisecond when it is up); after that it is aborted, so that a drain
// during a Redis outage does not wait for the Redis timeouts.
func (s *scheduler) shutdown() {
	s.stopOnce.Do(func() { close(s.stop) })
	t := time.NewTimer(tickStopGrace)
	defer t.Stop()
	select {
	case <-s.done:
		return
	case <-t.C:
	}
	s.cancel()
	<-s.done
}

func (s *scheduler) stopping() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// pass handles every tick due at now and returns when the next is due.
func (s *scheduler) pass(ctx context.Context, now time.Time) time.Time {
	wake := now.Add(tickSleepMax)
	for _, t := range s.ticks {
		if s.stopping() {
			break
		}
		if w := s.advance(ctx, t, now); w.Before(wake) {
			wake = w
		}
	}
	return wake
}

// advance handles t's ticks due at now: missed ones by the schedule's
// policy, the others by enqueueing them. It returns when t next needs a
// pass.
func (s *scheduler) advance(ctx context.Context, t *ticker, now time.Time) time.Time {
	grace := tickLateMax
	if !t.started {
		grace = tickStartGrace
	}
	edge := now.Add(-grace)
	if !t.started || !t.e.Next(t.cursor).After(edge) {
		// Ticks may have been missed: learn what the other replicas did.
		// Ticks up to the last one enqueued or skipped on purpose were
		// handled; only those after it passed while no replica ran.
		rec, err := s.readRecord(ctx, t.e)
		if err != nil {
			s.failed(t, time.Time{}, "read_last_tick", err)
			return now.Add(tickRetry)
		}
		last, ok := rec.handled, !rec.handled.IsZero()
		if !t.started {
			t.cursor, t.started = edge, true
			if ok {
				t.cursor = last
			}
		} else if ok && last.After(t.cursor) {
			t.cursor = last
		}
	}
	// Ticks up to edge were missed; the policy keeps the most recent
	// CatchUp of them.
	due, skipped, first, lastSkipped := scanMissed(t.e, t.cursor, edge, t.e.CatchUp)
	if skipped > 0 {
		s.log.Warn().Str("event", "schedule.skipped").Str("schedule", t.e.Name).Str("type", t.e.Type).
			Str("reason", skipMissed).Str("tick", tickString(lastSkipped)).Str("first_tick", tickString(first)).
			Int("skipped", skipped).Int("catch_up", t.e.CatchUp).
			Msg("ticks missed while no replica ran the schedule were skipped")
		s.countSkipped(t.e, skipMissed, skipped)
		s.recordSkipped(ctx, t, lastSkipped)
		t.cursor = lastSkipped
	}
	caughtUp := len(due)
	for tick := t.e.Next(laterOf(t.cursor, edge)); !tick.IsZero() && !tick.After(now); tick = t.e.Next(tick) {
		due = append(due, tick)
	}
	for i, tick := range due {
		if s.stopping() {
			break
		}
		if err := s.enqueue(ctx, t, tick, now, i < caughtUp); err != nil {
			s.failed(t, tick, "enqueue", err)
			return now.Add(tickRetry)
		}
		t.cursor = tick
	}
	if next := t.e.Next(t.cursor); !next.IsZero() {
		return next
	}
	return now.Add(tickSleepMax)
}

// scanMissed returns the ticks after from up to to: the last keep of them,
// and the count, first and last of the others.
func scanMissed(e *schedule.Entry, from, to time.Time, keep int) (kept []time.Time, skipped int, first, last time.Time) {
	for tick, n := e.Next(from), 0; !tick.IsZero() && !tick.After(to) && n < tickScanMax; tick, n = e.Next(tick), n+1 {
		kept = append(kept, tick)
		if len(kept) > keep {
			if skipped == 0 {
				first = kept[0]
			}
			last = kept[0]
			skipped++
			kept = kept[1:]
		}
	}
	return kept, skipped, first, last
}

// enqueue enqueues tick's task, unless another replica did (a conflict,
// which is success), or the schedule is NoOverlap and an earlier tick still
// waits to run (skipped). caughtUp says the tick was missed and is enqueued
// by the CatchUp policy.
func (s *scheduler) enqueue(ctx context.Context, t *ticker, tick, now time.Time, caughtUp bool) error {
	e := t.e
	id := e.TaskID(tick)
	// The record conflicts where the task ID may not: a tick deferred on
	// its last attempt goes on as a copy (ID~1) and its own task is
	// revoked, which frees the ID for a replica reaching the tick late.
	// The tick's enqueuer records it right after the enqueue, and the
	// copy's requeue records it before the revoke (Runner.holdTick).
	rec, err := s.readRecord(ctx, e)
	if err != nil {
		return err
	}
	switch {
	case rec.enqueued.Equal(tick):
		s.recorded(t, tick, id)
		return nil
	case rec.enqueued.After(tick) && e.NoOverlap:
		// A later tick is enqueued: this one would only run beside it.
		s.recorded(t, tick, id)
		return nil
	case rec.enqueued.After(tick):
		// A later tick is recorded, which says nothing of this one: a
		// replica starting while Redis did not answer the others counts
		// the ticks of the outage as missed and goes on with the next,
		// while the others still enqueue them, late. The ID conflicts if
		// the tick was enqueued, unless its task was revoked for a copy.
		held, err := s.held(ctx, e, tick)
		if err != nil {
			return err
		}
		if held {
			s.recorded(t, tick, id)
			return nil
		}
	}
	if e.NoOverlap {
		waiting, done, err := s.earlierWaiting(ctx, t, tick, rec)
		if err != nil {
			return err
		}
		switch done {
		case doneEnqueued:
			s.recorded(t, tick, id)
			return nil
		case doneSkipped:
			return nil // another replica skipped it, and said so
		}
		if waiting != "" {
			s.log.Info().Str("event", "schedule.skipped").Str("schedule", e.Name).Str("type", e.Type).
				Str("reason", skipOverlap).Str("tick", tickString(tick)).Str("task_id", id).Str("waiting_task_id", waiting).
				Msg("tick skipped: the schedule does not overlap and an earlier tick still waits to run")
			s.countSkipped(e, skipOverlap, 1)
			s.recordSkipped(ctx, t, tick)
			return nil
		}
	}
	period := e.Period(tick)
	headers := map[string]string{HeaderSchedule: e.Name, HeaderTick: tickString(tick)}
	if e.NoOverlap {
		headers[headerScheduleLock] = scheduleLockTTL(period).String()
	}
	opts := append(job.TaskOptions(t.opts), asynq.TaskID(id), asynq.Retention(tickRetention(period)))
	task := asynq.NewTaskWithHeaders(e.Type, e.Payload, headers, opts...)
	cctx, cancel := context.WithTimeout(ctx, tickRedisTimeout)
	defer cancel()
	_, err = s.client.EnqueueContext(cctx, task)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		s.recorded(t, tick, id)
		return nil
	}
	if err != nil {
		return err
	}
	s.lastTick.WithLabelValues(e.Name).Set(float64(tick.Unix()))
	s.log.Info().Str("event", "schedule.enqueued").Str("schedule", e.Name).Str("type", e.Type).
		Str("queue", t.opts.Queue).Str("task_id", id).Str("tick", tickString(tick)).
		Int64("late_ms", ms(now.Sub(tick))).Bool("caught_up", caughtUp).Msg("tick enqueued")
	if err := s.writeLast(cctx, e, tick, period); err != nil {
		// The next start may try this tick again: it conflicts while the
		// task is retained.
		s.log.Warn().Str("event", "schedule.record_failed").Str("schedule", e.Name).Str("tick", tickString(tick)).
			Err(err).Msg("tick enqueued but not recorded as the schedule's last")
	}
	return nil
}

// recorded notes a tick that another replica enqueued.
func (s *scheduler) recorded(t *ticker, tick time.Time, id string) {
	s.lastTick.WithLabelValues(t.e.Name).Set(float64(tick.Unix()))
	s.log.Debug().Str("event", "schedule.conflict").Str("schedule", t.e.Name).Str("task_id", id).
		Str("tick", tickString(tick)).Msg("tick already enqueued by another replica")
}

// tickDone says whether another replica handled a tick already.
type tickDone int

const (
	notDone      tickDone = iota
	doneEnqueued          // the tick, or a later one, is enqueued
	doneSkipped           // the tick was skipped on purpose (overlap)
)

// earlierWaiting reports, for a NoOverlap schedule, the task ID of the last
// enqueued tick when it has not run yet (pending, scheduled, or deferred by
// the schedule's busy lock), or that tick itself is already handled:
// enqueued, or skipped by another replica. rec is the schedule's record,
// read just before. A tick waiting for a retry after a failure (asynq counts deferrals as no
// retry) does not hold the next ticks back: with the long retry schedule
// that could be days.
func (s *scheduler) earlierWaiting(ctx context.Context, t *ticker, tick time.Time, rec record) (waiting string, done tickDone, err error) {
	if rec.handled.IsZero() {
		return "", notDone, nil
	}
	switch {
	case !rec.enqueued.Before(tick):
		return "", doneEnqueued, nil
	case !rec.handled.Before(tick):
		return "", doneSkipped, nil
	case rec.enqueued.IsZero():
		return "", notDone, nil
	}
	id := t.e.TaskID(rec.enqueued)
	ctx, cancel := context.WithTimeout(ctx, tickRedisTimeout)
	defer cancel()
	info, err := asynqdb.Read(ctx, s.redis, t.opts.Queue, id)
	switch {
	case errors.Is(err, asynqdb.ErrNotFound):
		return "", notDone, nil
	case err != nil:
		return "", notDone, err
	}
	switch info.State {
	case asynqdb.StatePending, asynqdb.StateScheduled, asynqdb.StateAggregating:
		return id, notDone, nil
	case asynqdb.StateRetry:
		if info.Retried == 0 {
			return id, notDone, nil
		}
	}
	return "", notDone, nil
}

// countSkipped counts n ticks of e skipped for reason.
func (s *scheduler) countSkipped(e *schedule.Entry, reason string, n int) {
	if s.skipped != nil {
		s.skipped.WithLabelValues(e.Name, reason).Add(float64(n))
	}
}

// recordSkipped records tick, skipped on purpose, as handled, so that a
// replica starting later does not count it as missed.
func (s *scheduler) recordSkipped(ctx context.Context, t *ticker, tick time.Time) {
	if err := s.writeSkipped(ctx, t.e, tick, t.e.Period(tick)); err != nil {
		s.log.Warn().Str("event", "schedule.record_failed").Str("schedule", t.e.Name).Str("tick", tickString(tick)).
			Err(err).Msg("tick skipped but not recorded as handled; a replica starting now may call it missed")
	}
}

func (s *scheduler) failed(t *ticker, tick time.Time, op string, err error) {
	ev := s.log.Error().Str("event", "schedule.failed").Str("schedule", t.e.Name).Str("op", op).Err(err).
		Int64("retry_in_ms", ms(tickRetry))
	if !tick.IsZero() {
		ev = ev.Str("tick", tickString(tick))
	}
	ev.Msg("schedule could not be served; retrying")
}

// tickRetention is how long a tick's completed task is kept, holding its
// ID: until the next tick, plus tickLateMax for a replica that reaches the
// tick late. asynq keeps whole seconds.
func tickRetention(period time.Duration) time.Duration {
	return (max(period, 0) + tickLateMax + time.Second - 1).Truncate(time.Second)
}

func tickString(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
