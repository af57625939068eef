package runner

import (
	"context"
	_ "embed"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/fleet"
	"github.com/jobrunner/jobrunner/schedule"
)

var (
	//go:embed lua/tick_forward.lua
	tickForwardLua string
	//go:embed lua/schedule_last.lua
	scheduleLastLua string
	//go:embed lua/schedule_hold.lua
	scheduleHoldLua string

	scheduleLastScript = redis.NewScript(tickForwardLua + scheduleLastLua)
	scheduleHoldScript = redis.NewScript(tickForwardLua + scheduleHoldLua)
)

// heldTickKeep is how long a held tick is remembered: twice the longest a
// running replica may reach a tick late (tickLateMax), for clock skew
// between replicas.
const heldTickKeep = 2 * tickLateMax

// A schedule's record in Redis is two small keys in one hash slot, each
// holding a tick in Unix seconds that only moves forward:
//
//   - lastKey: the last tick enqueued. A NoOverlap schedule reads it to
//     find the task of the tick that may still wait to run.
//   - skippedKey: the last tick skipped on purpose, because an earlier
//     tick of a NoOverlap schedule still waited, or because the tick was
//     missed and the schedule's policy dropped it (and logged it).
//
// The ticks up to the later of the two were handled by some replica: a
// replica starting counts as missed only the ticks after both.
//
// A third key, heldKey, lists the recent ticks whose task was revoked for a
// copy (Runner.holdTick), whose task ID no longer conflicts.

// lastKey is the Redis key of a schedule's last enqueued tick.
func lastKey(name string) string { return fleet.ScheduleLastKey(name) }

// skippedKey is the Redis key of a schedule's last tick skipped on purpose.
func skippedKey(name string) string { return fleet.ScheduleSkippedKey(name) }

// heldKey is the Redis key of a schedule's held ticks.
func heldKey(name string) string { return fleet.ScheduleHeldKey(name) }

// held reports whether tick's task was revoked for a copy (Runner.holdTick).
func (s *scheduler) held(ctx context.Context, e *schedule.Entry, tick time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, tickRedisTimeout)
	defer cancel()
	err := s.redis.ZScore(ctx, heldKey(e.Name), strconv.FormatInt(tick.Unix(), 10)).Err()
	if err == redis.Nil {
		return false, nil
	}
	return err == nil, err
}

// record is what a schedule's keys say.
type record struct {
	enqueued time.Time // the last tick enqueued; zero if none is recorded
	handled  time.Time // the last tick enqueued or skipped; zero if none
}

// readRecord reads the schedule's record in one round trip.
func (s *scheduler) readRecord(ctx context.Context, e *schedule.Entry) (record, error) {
	ctx, cancel := context.WithTimeout(ctx, tickRedisTimeout)
	defer cancel()
	vs, err := s.redis.MGet(ctx, lastKey(e.Name), skippedKey(e.Name)).Result()
	if err != nil {
		return record{}, err
	}
	var rec record
	rec.enqueued = tickValue(vs[0])
	rec.handled = laterOf(rec.enqueued, tickValue(vs[1]))
	return rec, nil
}

// tickValue reads a tick in Unix seconds; anything else reads as unset.
func tickValue(v any) time.Time { return fleet.TickValue(v) }

// writeLast records tick as the schedule's last enqueued tick unless a
// later one is recorded.
func (s *scheduler) writeLast(ctx context.Context, e *schedule.Entry, tick time.Time, period time.Duration) error {
	return s.writeTick(ctx, lastKey(e.Name), e, tick, period)
}

// writeSkipped records tick as the schedule's last tick skipped on purpose
// unless a later one is recorded.
func (s *scheduler) writeSkipped(ctx context.Context, e *schedule.Entry, tick time.Time, period time.Duration) error {
	return s.writeTick(ctx, skippedKey(e.Name), e, tick, period)
}

func (s *scheduler) writeTick(ctx context.Context, key string, e *schedule.Entry, tick time.Time, period time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, tickRedisTimeout)
	defer cancel()
	ttl := max(lastTickTTLMin, time.Duration(e.CatchUp+2)*period)
	return scheduleLastScript.Run(ctx, s.redis, []string{key}, tick.Unix(), ttl.Milliseconds()).Err()
}
