package runner

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/testkit/logtest"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/schedule"
)

// TestTickDeferredOnLastAttemptRunsOnce: a tick whose job is deferred on
// its last attempt goes on as a copy (ID~1) and its own task is revoked,
// which frees the tick's task ID. A replica whose loop reaches that tick
// late (a starved loop, within tickLateMax) must not enqueue it again:
// the schedule's record of the tick conflicts where the ID no longer
// does. The tick runs once, through its copy. "record_lost" is a tick
// whose enqueuer died before it recorded the tick: the copy's requeue
// records it (Runner.holdTick). "later_recorded" is a later tick recorded
// before the late replica comes (a replica that started during an outage
// went on with the next tick): the held ticks answer then.
func TestTickDeferredOnLastAttemptRunsOnce(t *testing.T) {
	for _, name := range []string{"recorded", "record_lost", "later_recorded"} {
		t.Run(name, func(t *testing.T) { testTickDeferredOnLastAttempt(t, name == "record_lost", name == "later_recorded") })
	}
}

func testTickDeferredOnLastAttempt(t *testing.T, recordLost, laterRecorded bool) {
	rdb := redistest.Start(t).Client()
	logs := &logtest.Buffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel)
	r, err := New(Config{Redis: rdb, Logger: &log, PollInterval: 10 * time.Millisecond, DelayedCheckInterval: 100 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	runs := map[string]int{} // tick -> handler runs that did the work
	deferred := map[string]bool{}
	r.Use(func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, a *Attempt) error {
			tick := a.Task.Headers()[HeaderTick]
			mu.Lock()
			defer mu.Unlock()
			if !deferred[tick] { // the first attempt, its last, is deferred
				deferred[tick] = true
				return job.Defer("busy", 300*time.Millisecond, nil)
			}
			runs[tick]++
			return next(ctx, a)
		}
	})
	err = r.Register(&job.Definition[tickArgs]{Type: "once", MaxRetry: job.NoRetry,
		Handle: func(context.Context, tickArgs) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	}()

	e, err := schedule.Compile(schedule.Schedule{Spec: "@every 1m", Type: "once", Payload: []byte(`{}`)}, r.registry)
	if err != nil {
		t.Fatal(err)
	}
	replica := func() *scheduler {
		return newScheduler(schedulerParams{client: r.client, redis: rdb, registry: r.registry,
			log: log, lastTick: r.metrics.scheduleLastTick, now: time.Now, entries: []*schedule.Entry{e}})
	}
	ctx := context.Background()
	early, late := replica(), replica()
	late.pass(ctx, t0.Add(-30*time.Second)) // started before the tick; its loop then stalls
	id := e.TaskID(t0)
	if recordLost { // the scheduler's enqueue, without its record
		task := asynq.NewTaskWithHeaders(e.Type, e.Payload, map[string]string{HeaderSchedule: e.Name, HeaderTick: tickString(t0)},
			asynq.MaxRetry(0), asynq.TaskID(id), asynq.Retention(tickRetention(time.Minute)))
		if _, err := r.client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
	} else {
		early.pass(ctx, t0.Add(100*time.Millisecond))
	}
	waitUntil(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return runs[tickString(t0)] == 1
	})
	if _, err := r.inspector.GetTaskInfo("default", id); err == nil {
		t.Fatalf("the tick's own task %s is still there; the test needs it revoked", id)
	}

	if laterRecorded {
		if err := early.writeLast(ctx, e, t0.Add(time.Minute), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	late.pass(ctx, t0.Add(20*time.Second)) // 20s late, well within tickLateMax
	time.Sleep(time.Second)                // time for a second task of the tick to run
	mu.Lock()
	n := runs[tickString(t0)]
	mu.Unlock()
	if n != 1 {
		t.Errorf("the tick ran %d times, want once", n)
	}
	if info, err := r.inspector.GetTaskInfo("default", id); err == nil {
		t.Errorf("the late replica enqueued the tick again: %s is %v", id, info.State)
	}
	if got, want := len(logs.Events("schedule.enqueued")), map[bool]int{false: 1, true: 0}[recordLost]; got != want {
		t.Errorf("%d schedule.enqueued lines, want %d", got, want)
	}
}
