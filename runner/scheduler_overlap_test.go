package runner

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/testkit/logtest"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/schedule"
)

// TestSchedulerNoOverlapDefersTheNextTick runs a NoOverlap schedule's ticks
// on a real runner, the ticks driven by hand: tick 0 runs long, tick 1 is
// enqueued while it runs and deferred by the schedule's lock (it never runs
// beside tick 0), tick 2 is skipped while tick 1 waits, and tick 1 runs once
// tick 0 is done, with a greater fencing token.
func TestSchedulerNoOverlapDefersTheNextTick(t *testing.T) {
	rdb := redistest.Start(t).Client()
	logs := &logtest.Buffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel)
	r, err := New(Config{Redis: rdb, Logger: &log, PollInterval: 10 * time.Millisecond, DelayedCheckInterval: 100 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var running, maxRunning atomic.Int32
	fences := make(chan int64, 4)
	err = r.Register(&job.Definition[tickArgs]{Type: "hold", Handle: func(ctx context.Context, _ tickArgs) error {
		n := running.Add(1)
		defer running.Add(-1)
		if n > maxRunning.Load() {
			maxRunning.Store(n)
		}
		f, _ := job.Fence(ctx)
		fences <- f
		<-release
		return nil
	}})
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

	e, err := schedule.Compile(schedule.Schedule{Spec: "@every 1s", Type: "hold", Payload: []byte(`{}`), NoOverlap: true}, r.registry)
	if err != nil {
		t.Fatal(err)
	}
	s := newScheduler(schedulerParams{client: r.client, redis: rdb, registry: r.registry,
		log: log, lastTick: r.metrics.scheduleLastTick, now: time.Now, entries: []*schedule.Entry{e}})
	ctx := context.Background()
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec)*time.Second + 10*time.Millisecond) }

	s.pass(ctx, at(0))
	var f0 int64
	select {
	case f0 = <-fences:
	case <-time.After(10 * time.Second):
		t.Fatal("tick 0 did not start")
	}
	s.pass(ctx, at(1))
	waitState(t, r.inspector, e.TaskID(t0.Add(time.Second)), asynq.TaskStateRetry)
	s.pass(ctx, at(2))
	if _, err := r.inspector.GetTaskInfo("default", e.TaskID(t0.Add(2*time.Second))); err == nil {
		t.Fatal("tick 2 was enqueued while tick 1 waited")
	}
	if n := len(logs.Events("schedule.skipped")); n != 1 {
		t.Fatalf("%d schedule.skipped lines, want 1 (tick 2)", n)
	}
	var deferredBusy bool
	for _, l := range logs.Events("job.deferred") {
		deferredBusy = deferredBusy || (l["reason"] == "lock_busy" && l["lock_key"] == "schedule:"+e.Name)
	}
	if !deferredBusy {
		t.Fatal("tick 1 was not deferred by the schedule's lock")
	}

	close(release)
	select {
	case f1 := <-fences:
		if f1 <= f0 {
			t.Fatalf("tick 1's fence %d is not greater than tick 0's %d", f1, f0)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tick 1 did not run after tick 0 ended")
	}
	if m := maxRunning.Load(); m != 1 {
		t.Fatalf("%d ticks ran at once", m)
	}
}

// waitState waits until the task is in state want.
func waitState(t *testing.T, in *asynq.Inspector, id string, want asynq.TaskState) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, err := in.GetTaskInfo("default", id)
		if err == nil && info.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: state %v (%v), want %v", id, info, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSchedulerNoOverlapFailedTickDoesNotHoldBack: a NoOverlap tick that
// failed and waits for its retry (an hour here) does not keep the next
// ticks from being enqueued, as a tick deferred by the lock would.
func TestSchedulerNoOverlapFailedTickDoesNotHoldBack(t *testing.T) {
	rdb := redistest.Start(t).Client()
	log := zerolog.Nop()
	r, err := New(Config{Redis: rdb, Logger: &log, PollInterval: 10 * time.Millisecond,
		RetryBackoff: func(int, error) time.Duration { return time.Hour }})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Register(&job.Definition[tickArgs]{Type: "flaky", Handle: func(context.Context, tickArgs) error {
		return errors.New("upstream said no")
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Shutdown(context.Background()) }()
	e, err := schedule.Compile(schedule.Schedule{Spec: "@every 1s", Type: "flaky", Payload: []byte(`{}`), NoOverlap: true}, r.registry)
	if err != nil {
		t.Fatal(err)
	}
	s := newScheduler(schedulerParams{client: r.client, redis: rdb, registry: r.registry,
		log: log, lastTick: r.metrics.scheduleLastTick, now: time.Now, entries: []*schedule.Entry{e}})
	ctx := context.Background()
	s.pass(ctx, t0.Add(10*time.Millisecond))
	waitState(t, r.inspector, e.TaskID(t0), asynq.TaskStateRetry)
	s.pass(ctx, t0.Add(1010*time.Millisecond))
	if _, err := r.inspector.GetTaskInfo("default", e.TaskID(t0.Add(time.Second))); err != nil {
		t.Fatalf("the tick after a failed one was not enqueued: %v", err)
	}
}

// TestSchedulerOverlapSkipIsNotMissed: ticks a NoOverlap schedule skipped
// because an earlier tick still waited were handled; a replica starting
// afterwards must not warn that they were missed (only ticks no replica
// saw are). Its own overlap skips are counted, none as missed.
func TestSchedulerOverlapSkipIsNotMissed(t *testing.T) {
	b := setupSched(t)
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	sc := schedule.Schedule{Spec: "@every 1s", Type: "tick", Payload: []byte(`{}`), NoOverlap: true}
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec)*time.Second + 10*time.Millisecond) }
	ctx := context.Background()
	// No worker fetches here, so tick 0 stays pending: ticks 1 and 2 are
	// skipped behind it.
	a := b.replica(t, time.Now, sc)
	a.skipped = m.ticksSkipped
	for sec := range 3 {
		a.pass(ctx, at(sec))
	}
	if n := len(b.logs.Events("schedule.skipped")); n != 2 {
		t.Fatalf("%d schedule.skipped lines, want 2 (ticks 1 and 2)", n)
	}
	late := b.replica(t, time.Now, sc)
	late.skipped = m.ticksSkipped
	late.pass(ctx, at(3))
	for _, l := range b.logs.Events("schedule.skipped") {
		if l["reason"] != skipOverlap {
			t.Fatalf("a replica starting after overlap skips logged %v", l)
		}
	}
	e := a.ticks[0].e
	for reason, want := range map[string]float64{skipOverlap: 3, skipMissed: 0} {
		var mm dto.Metric
		if err := m.ticksSkipped.WithLabelValues(e.Name, reason).Write(&mm); err != nil {
			t.Fatal(err)
		}
		if got := mm.GetCounter().GetValue(); got != want {
			t.Errorf("ticks skipped (%s) = %v, want %v", reason, got, want)
		}
	}
	if got := b.taskIDs(t); !slices.Equal(got, []string{e.TaskID(t0)}) {
		t.Fatalf("tasks %v, want tick 0's only", got)
	}
}
