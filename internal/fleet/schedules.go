package fleet

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
)

// TickLateMax is how late a running scheduler still enqueues a tick (the
// runner's scheduler); a tick older than that which no replica recorded
// was missed.
const TickLateMax = time.Minute

// missedMax bounds the missed ticks counted per schedule.
const missedMax = 1000

// ScheduleStatus is a periodic job as the status shows it. Its payload is
// not shown: it is configuration that may hold secrets.
type ScheduleStatus struct {
	Name      string `json:"name"`
	Spec      string `json:"spec"`
	Type      string `json:"type"`
	Queue     string `json:"queue"`
	NoOverlap bool   `json:"no_overlap"`
	CatchUp   int    `json:"catch_up"`
	// LastEnqueued is the last tick enqueued by any replica; omitted when
	// none is recorded (never run, or off every replica for a week).
	LastEnqueued string `json:"last_enqueued,omitempty"`
	// LastTask is that tick's task and its state now.
	LastTask *TaskState `json:"last_task,omitempty"`
	// LastSkipped is the last tick skipped on purpose (an overlap, or
	// missed ticks the policy dropped); omitted when none is recorded.
	LastSkipped string `json:"last_skipped,omitempty"`
	// NextTick is the schedule's next tick after now.
	NextTick string `json:"next_tick"`
	// OverdueMS is how long ago the first tick after the last one
	// enqueued or skipped was due; 0 while it is not due yet.
	OverdueMS int64 `json:"overdue_ms"`
	// Missed counts the ticks (at most 1000) more than a minute old that
	// no replica enqueued or skipped: no replica ran the schedule then.
	Missed int `json:"missed"`
	// Overlapping is true when the last tick's job has not finished
	// although the next tick is due: with no_overlap, the ticks due
	// meanwhile are skipped.
	Overlapping bool `json:"overlapping"`
}

// TaskState is a task and its state: pending, active, scheduled, retry,
// archived, completed, or "gone" once asynq no longer holds it (a
// completed tick's task is kept until the next tick and a minute).
type TaskState struct {
	TaskID string `json:"task_id"`
	State  string `json:"state"`
}

// readSchedules reads every schedule's record and its last tick's task.
func readSchedules(ctx context.Context, cfg Config, now time.Time) ([]ScheduleStatus, error) {
	if len(cfg.Schedules) == 0 {
		return nil, nil
	}
	recs := make([]*redis.SliceCmd, len(cfg.Schedules))
	_, err := cfg.Redis.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, s := range cfg.Schedules {
			recs[i] = p.MGet(ctx, ScheduleLastKey(s.Name), ScheduleSkippedKey(s.Name))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]ScheduleStatus, len(cfg.Schedules))
	lasts := make([]time.Time, len(cfg.Schedules))
	var refs []asynqdb.TaskRef
	var withTask []int
	for i, s := range cfg.Schedules {
		vs := recs[i].Val()
		last, skipped := TickValue(vs[0]), TickValue(vs[1])
		lasts[i] = last
		st := ScheduleStatus{
			Name: s.Name, Spec: s.Spec, Type: s.Type, Queue: s.Queue, NoOverlap: s.NoOverlap, CatchUp: s.CatchUp,
			LastEnqueued: Stamp(last), LastSkipped: Stamp(skipped), NextTick: Stamp(s.Next(now)),
		}
		if handled := laterOf(last, skipped); !handled.IsZero() {
			if due := s.Next(handled); !due.IsZero() && due.Before(now) {
				st.OverdueMS = Ms(now.Sub(due))
			}
			for tick := s.Next(handled); !tick.IsZero() && !tick.After(now.Add(-TickLateMax)) && st.Missed < missedMax; tick = s.Next(tick) {
				st.Missed++
			}
		}
		if !last.IsZero() {
			st.LastTask = &TaskState{TaskID: s.TaskID(last)}
			refs = append(refs, asynqdb.TaskRef{Queue: s.Queue, ID: st.LastTask.TaskID})
			withTask = append(withTask, i)
		}
		out[i] = st
	}
	if len(refs) == 0 {
		return out, nil
	}
	states, err := asynqdb.States(ctx, cfg.Redis, refs)
	if err != nil {
		return out, err
	}
	for j, i := range withTask {
		st := &out[i]
		st.LastTask.State = states[j]
		switch states[j] {
		case "":
			st.LastTask.State = "gone"
		case asynqdb.StatePending, asynqdb.StateActive, asynqdb.StateScheduled, asynqdb.StateRetry, asynqdb.StateAggregating:
			next := cfg.Schedules[i].Next(lasts[i])
			st.Overlapping = !next.IsZero() && !next.After(now)
		}
	}
	return out, nil
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
