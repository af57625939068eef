package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/fleet"
	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
	"github.com/jobrunner/jobrunner/schedule"
)

// Secrets that the tasks carry in their payloads and headers: the status
// must show neither.
const (
	payloadSecret = "payload-secret-4711"
	headerSecret  = "header-secret-0815"
)

// runToRetry enqueues one task per entry of outcomes on queue and runs
// them through asynq's own Server: each returns its error, a deferral's
// text (job.DeferError) counting no attempt, as the runner's do.
func runToRetry(t *testing.T, rdb redis.UniversalClient, queue string, outcomes map[string]error) {
	t.Helper()
	client := asynq.NewClientFromRedisClient(rdb)
	for id := range outcomes {
		task := asynq.NewTaskWithHeaders("t", []byte(`{"card":"`+payloadSecret+`"}`),
			map[string]string{"authorization": headerSecret}, asynq.TaskID(id), asynq.Queue(queue), asynq.MaxRetry(5))
		if _, err := client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{}, len(outcomes))
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 2, Queues: map[string]int{queue: 1}, LogLevel: asynq.FatalLevel,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour },
		IsFailure: func(err error) bool {
			var d *job.DeferError
			return !errors.As(err, &d)
		},
	})
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, _ *asynq.Task) error {
		defer func() { done <- struct{}{} }()
		id, _ := asynq.GetTaskID(ctx)
		return outcomes[id]
	})); err != nil {
		t.Fatal(err)
	}
	for range outcomes {
		<-done
	}
	srv.Shutdown()
	for deadline := time.Now().Add(5 * time.Second); rdb.ZCard(context.Background(), "asynq:{"+queue+"}:retry").Val() < int64(len(outcomes)); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the tasks did not reach the retry set")
		}
	}
}

// TestReadFleet: Read reports, from Redis alone, the shared breakers (also
// the configured one never used), the limits' holders, waiters, window,
// queue and pause, the schedules' records, missed ticks and overlap, and
// the deferred jobs by reason and queue with the oldest's age, counting
// the copy of a job deferred on its last attempt and not the failures or
// ordinary scheduled tasks; and it shows no payload or header.
func TestReadFleet(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	now := time.Now()

	// Breakers shared through Redis: one open, one closed.
	reg, err := resilience.NewRegistry(resilience.RegistryConfig{
		Shared: []string{"*"}, Redis: rdb,
		Default: resilience.BreakerConfig{FailureThreshold: 2, OpenTimeout: time.Hour, OpenJitter: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_ = reg.Call(ctx, "pay.example", func(context.Context) error { return errors.New("down") })
	}
	_ = reg.Call(ctx, "ok.example", func(context.Context) error { return nil })

	// Limits: two slots of two held, a refused taker; a rate of 1/m used
	// up, a start refused, a pause.
	store := lockcore.NewRedisStore(rdb, lockcore.RedisConfig{})
	for _, holder := range []string{"default\ntask-1", "default\ntask-2"} {
		if _, err := store.TakeSlot(ctx, "pay.example", 2, time.Minute, holder); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := store.TakeSlot(ctx, "pay.example", 2, time.Minute, "default\ntask-3"); !errors.Is(err, lockcore.ErrLimited) {
		t.Fatalf("third slot: %v", err)
	}
	rate := lockcore.Rate{N: 1, Per: time.Minute}
	_ = store.TakeRate(ctx, "hooks.example", rate)
	if err := store.TakeRate(ctx, "hooks.example", rate); !errors.Is(err, lockcore.ErrLimited) {
		t.Fatalf("second start: %v", err)
	}
	if err := store.PauseRate(ctx, "hooks.example", rate, 30*time.Second); err != nil {
		t.Fatal(err)
	}

	// Schedules: one whose last tick (10 minutes ago) still waits to run,
	// with the ticks since missed; one never run.
	every, err := schedule.Compile(schedule.Schedule{Name: "report", Spec: "@every 60s", Type: "t", Payload: []byte(`{"token":"` + payloadSecret + `"}`), NoOverlap: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	never, err := schedule.Compile(schedule.Schedule{Name: "never", Spec: "@hourly", Type: "t"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	last := every.Next(now.Add(-11 * time.Minute))
	rdb.Set(ctx, fleet.ScheduleLastKey("report"), last.Unix(), time.Hour)

	// Deferred jobs: three waiting for the open breaker (one of them noted
	// two hours ago), one rate limited, one failure; a copy of a job
	// deferred on its last attempt, and an ordinary scheduled task.
	runToRetry(t, rdb, "default", map[string]error{
		"b1": &job.DeferError{Reason: "breaker_open", After: time.Minute, Err: errors.New("payment-api open")},
		"b2": &job.DeferError{Reason: "breaker_open", After: time.Minute},
		"r1": &job.DeferError{Reason: "rate_limited", After: time.Minute},
		"f1": errors.New("boom with " + headerSecret + "? no: a failure's text is not shown"),
	})
	runToRetry(t, rdb, "low", map[string]error{"b3": &job.DeferError{Reason: "breaker_open", After: time.Minute}})
	// The schedule's last tick waits in its queue (enqueued after the
	// servers above ran, which would have run it).
	client := asynq.NewClientFromRedisClient(rdb)
	if _, err := client.Enqueue(asynq.NewTask("t", nil, asynq.TaskID(every.TaskID(last)), asynq.Queue("low"))); err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, fleet.DeferralKey("b1", 5), "since", now.Add(-2*time.Hour).UnixMilli(), "n", 7)
	copyTask := asynq.NewTaskWithHeaders("t", []byte(payloadSecret), map[string]string{
		fleet.HeaderOrigin: "orig", fleet.HeaderRequeues: "1", fleet.HeaderDeferral: "lock_busy", "authorization": headerSecret,
	}, asynq.TaskID("orig~1"), asynq.ProcessIn(time.Minute), asynq.MaxRetry(0))
	if _, err := client.Enqueue(copyTask); err != nil {
		t.Fatal(err)
	}
	rdb.HSet(ctx, fleet.DeferralKey("orig", 0), "since", now.Add(-3*time.Hour).UnixMilli())
	if _, err := client.Enqueue(asynq.NewTask("t", nil, asynq.ProcessIn(time.Hour))); err != nil {
		t.Fatal(err)
	}

	st := fleet.Read(ctx, fleet.Config{
		Redis: rdb, Queues: []string{"default", "low"},
		Limits:         map[string]fleet.Limit{"pay.example": {Concurrency: 2}, "hooks.example": {Rate: rate}},
		SharedBreakers: []string{"configured.example"},
		Schedules:      []fleet.Schedule{{Entry: every, Queue: "low"}, {Entry: never, Queue: "default"}},
		Now:            func() time.Time { return now },
	})
	if len(st.Errors) > 0 {
		t.Fatalf("errors: %+v", st.Errors)
	}
	out, _ := json.MarshalIndent(st, "", "  ")
	t.Logf("%s", out)
	if strings.Contains(string(out), payloadSecret) || strings.Contains(string(out), headerSecret) {
		t.Fatal("the status shows a payload or a header")
	}

	// Breakers.
	if len(st.Breakers) != 3 {
		t.Fatalf("breakers: %+v; want configured, ok and pay", st.Breakers)
	}
	if b := st.Breakers[0]; b.Dependency != "configured.example" || b.State != "closed" || b.Scope != fleet.ScopeShared {
		t.Errorf("breaker 0: %+v", b)
	}
	if b := st.Breakers[2]; b.Dependency != "pay.example" || b.State != "open" || b.RetryInMS < 59*60*1000 || b.RetryAt == "" {
		t.Errorf("open breaker: %+v; want open for about an hour", b)
	}

	// Limits, by dependency.
	if len(st.Limits) != 2 {
		t.Fatalf("limits: %+v", st.Limits)
	}
	hooks, pay := st.Limits[0], st.Limits[1]
	if c := pay.Concurrency; pay.Rate != nil || c == nil || c.Limit != 2 || c.InUse != 2 || c.Waiting != 1 || len(c.Holders) != 2 {
		t.Errorf("pay.example: %+v %+v", pay.Concurrency, pay.Rate)
	} else {
		// Two slots taken in the same millisecond expire together: either
		// may come first.
		held := map[string]bool{}
		for _, h := range c.Holders {
			held[h.TaskID] = h.Queue == "default" && h.ExpiresInMS > 0
		}
		if !held["task-1"] || !held["task-2"] {
			t.Errorf("pay.example holders: %+v; want task-1 and task-2 in default", c.Holders)
		}
	}
	if r := hooks.Rate; hooks.Concurrency != nil || r == nil || r.Limit != "1/m" || r.Capacity != 1 || r.WindowMS != 60000 ||
		r.Starts != 1 || r.QueueMS < 60000 || r.PausedMS < 25000 {
		t.Errorf("hooks.example: %+v %+v", hooks.Concurrency, hooks.Rate)
	}

	// Schedules, in configuration order.
	rep, nev := st.Schedules[0], st.Schedules[1]
	if rep.Name != "report" || rep.Queue != "low" || !rep.NoOverlap || rep.LastEnqueued != fleet.Stamp(last) ||
		rep.LastTask == nil || rep.LastTask.State != "pending" || !rep.Overlapping || rep.Missed < 9 || rep.Missed > 10 ||
		rep.OverdueMS < 9*60*1000 || rep.NextTick != fleet.Stamp(every.Next(now)) {
		t.Errorf("report: %+v", rep)
	}
	if nev.LastEnqueued != "" || nev.LastTask != nil || nev.Missed != 0 || nev.Overlapping || nev.NextTick == "" {
		t.Errorf("never: %+v", nev)
	}

	// Deferred jobs.
	d := st.Deferred
	if d.Total != 5 || d.Sampled {
		t.Fatalf("deferred: %+v; want 5, not sampled", d)
	}
	want := []fleet.DeferredGroup{
		{Reason: "breaker_open", Queue: "default", Count: 2},
		{Reason: "breaker_open", Queue: "low", Count: 1},
		{Reason: "lock_busy", Queue: "default", Count: 1},
		{Reason: "rate_limited", Queue: "default", Count: 1},
	}
	if len(d.ByReason) != len(want) {
		t.Fatalf("by reason: %+v", d.ByReason)
	}
	for i, g := range d.ByReason {
		if g.Reason != want[i].Reason || g.Queue != want[i].Queue || g.Count != want[i].Count || g.NextInMS <= 0 || g.NextInMS > 3605*1000 {
			t.Errorf("group %d: %+v; want %+v", i, g, want[i])
		}
	}
	if age := d.ByReason[0].OldestAgeMS; age < 2*3600*1000 || age > 2*3600*1000+60*1000 {
		t.Errorf("breaker_open oldest age %dms; want the note's 2h", age)
	}
	if d.OldestAgeMS < 3*3600*1000 {
		t.Errorf("oldest age %dms; want the copy's note, 3h", d.OldestAgeMS)
	}
	if q := d.Queues[0]; q.Queue != "default" || q.Retry != 4 || q.Scheduled != 2 || q.Read != 6 || q.Deferred != 4 || q.Retrying != 1 || q.Sampled {
		t.Errorf("queue default: %+v", q)
	}

	// A sample smaller than a set says so.
	st = fleet.Read(ctx, fleet.Config{Redis: rdb, Queues: []string{"default"}, SampleMax: 2})
	if !st.Deferred.Sampled || st.Deferred.Queues[0].Read != 4 {
		t.Errorf("SampleMax 2: %+v; want 2 of each set read, sampled", st.Deferred)
	}
}

// TestReadRedisHangs: with Redis paused, Read returns when its context
// ends, naming every part that could not be read.
func TestReadRedisHangs(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client()
	every, err := schedule.Compile(schedule.Schedule{Spec: "@hourly", Type: "t"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := fleet.Config{Redis: rdb, Limits: map[string]fleet.Limit{"x": {Concurrency: 1}}, Schedules: []fleet.Schedule{{Entry: every, Queue: "default"}}}
	srv.Pause()
	defer srv.Resume()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	st := fleet.Read(ctx, cfg)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Read took %v with a 300ms deadline", took)
	}
	var sections []string
	for _, e := range st.Errors {
		sections = append(sections, e.Section)
	}
	if strings.Join(sections, ",") != "batches,breakers,deferred,limits,schedules" {
		t.Errorf("errors %+v; want every part named", st.Errors)
	}
}
