package runner

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/testkit/clock"
	"github.com/jobrunner/jobrunner/internal/testkit/logtest"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/schedule"
)

// The scheduler tests drive the loop's passes by hand with fake clocks, on
// a dedicated Redis with no worker fetching, so every enqueued tick stays
// pending where the inspector sees it.

type tickArgs struct {
	N int `json:"n"`
}

var tickJob = &job.Definition[tickArgs]{Type: "tick", Handle: func(context.Context, tickArgs) error { return nil }}

// schedBundle is one Redis and what the schedulers on it share.
type schedBundle struct {
	rdb       redis.UniversalClient
	client    *asynq.Client
	inspector *asynq.Inspector
	reg       *job.Registry
	logs      *logtest.Buffer
	gauge     *prometheus.GaugeVec
}

func setupSched(t *testing.T, defs ...job.Spec) *schedBundle {
	t.Helper()
	rdb := redistest.Start(t).Client()
	b := &schedBundle{rdb: rdb, client: asynq.NewClientFromRedisClient(rdb), inspector: asynq.NewInspectorFromRedisClient(rdb),
		reg: job.NewRegistry(), logs: &logtest.Buffer{}}
	if err := b.reg.Register(append(defs, tickJob)...); err != nil {
		t.Fatal(err)
	}
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	b.gauge = m.scheduleLastTick
	return b
}

// replica returns a scheduler for s on b's Redis with clock now, its loop
// not started: the test calls pass.
func (b *schedBundle) replica(t *testing.T, now func() time.Time, ss ...schedule.Schedule) *scheduler {
	t.Helper()
	var entries []*schedule.Entry
	for _, s := range ss {
		e, err := schedule.Compile(s, b.reg)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	log := zerolog.New(b.logs).Level(zerolog.DebugLevel)
	return newScheduler(schedulerParams{client: b.client, redis: b.rdb, registry: b.reg,
		log: log, lastTick: b.gauge, now: now, entries: entries})
}

// taskIDs returns the IDs of the pending tasks of queue default, sorted.
func (b *schedBundle) taskIDs(t *testing.T) []string {
	t.Helper()
	tasks, err := b.inspector.ListPendingTasks("default", asynq.PageSize(1000))
	if err != nil && !strings.Contains(err.Error(), "not found") {
		t.Fatal(err)
	}
	var ids []string
	for _, ti := range tasks {
		ids = append(ids, ti.ID)
	}
	slices.Sort(ids)
	return ids
}

// ticks returns the task IDs of e's ticks at the given offsets from t0.
func ticks(e *schedule.Entry, t0 time.Time, offsets ...int) []string {
	var ids []string
	for _, o := range offsets {
		ids = append(ids, e.TaskID(t0.Add(time.Duration(o)*time.Second)))
	}
	slices.Sort(ids)
	return ids
}

func span(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

var everySecond = schedule.Schedule{Spec: "@every 1s", Type: "tick", Payload: []byte(`{"n":1}`)}

// t0 is a whole minute, a tick of every @every schedule the tests use.
var t0 = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)

// TestSchedulerOnceAcrossReplicas: three replicas, their clocks up to
// 400ms apart, pass at every tick in varying order; each tick is enqueued
// once and logged once.
func TestSchedulerOnceAcrossReplicas(t *testing.T) {
	b := setupSched(t)
	ctx := context.Background()
	clk := clock.NewFake()
	clk.Set(t0.Add(100 * time.Millisecond))
	skews := []time.Duration{0, 250 * time.Millisecond, -150 * time.Millisecond}
	var reps []*scheduler
	for _, skew := range skews {
		reps = append(reps, b.replica(t, func() time.Time { return clk.Now().Add(skew) }, everySecond))
	}
	for i := range 20 {
		for j := range reps {
			s := reps[(i+j)%len(reps)]
			s.pass(ctx, s.now())
		}
		clk.Advance(time.Second)
	}
	e := reps[0].ticks[0].e
	want := ticks(e, t0, span(0, 19)...)
	if got := b.taskIDs(t); !slices.Equal(got, want) {
		t.Fatalf("tasks:\n%v\nwant one per tick:\n%v", got, want)
	}
	enq := b.logs.Events("schedule.enqueued")
	seen := map[string]int{}
	for _, l := range enq {
		seen[l["tick"].(string)]++
	}
	if len(enq) != len(want) || len(seen) != len(want) {
		t.Fatalf("%d schedule.enqueued lines for %d distinct ticks, want %d", len(enq), len(seen), len(want))
	}
	if n := len(b.logs.Events("schedule.skipped")); n != 0 {
		t.Fatalf("%d schedule.skipped lines, want none", n)
	}
	if got := gaugeValue(t, b.gauge, e.Name); got != float64(t0.Add(19*time.Second).Unix()) {
		t.Fatalf("last tick gauge = %v, want %d", got, t0.Add(19*time.Second).Unix())
	}
}

// TestSchedulerTickTask checks what a tick's task carries: its ID, the
// job type's options, the schedule headers, and a retention that keeps the
// ID taken past the next tick.
func TestSchedulerTickTask(t *testing.T) {
	b := setupSched(t)
	s := b.replica(t, time.Now, schedule.Schedule{Spec: "@every 30s", Type: "tick", Payload: []byte(`{"n":2}`), NoOverlap: true})
	e := s.ticks[0].e
	s.pass(context.Background(), t0.Add(200*time.Millisecond)) // first start: t0 is 200ms late, within the grace
	info, err := b.inspector.GetTaskInfo("default", e.TaskID(t0))
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != "tick" || string(info.Payload) != `{"n":2}` || info.MaxRetry != job.MaxRetryDefault || info.Timeout != job.TimeoutDefault {
		t.Fatalf("task %+v", info)
	}
	if info.Retention < 30*time.Second+tickLateMax {
		t.Fatalf("retention %v, want at least the period plus %v", info.Retention, tickLateMax)
	}
	task := asynq.NewTaskWithHeaders(info.Type, info.Payload, info.Headers)
	if h := task.Headers(); h[HeaderSchedule] != e.Name || h[HeaderTick] != "2026-01-02T03:04:00Z" || h[headerScheduleLock] != "30s" {
		t.Fatalf("headers %v", h)
	}
}

// TestSchedulerMissedTicks: the schedule's last tick was recorded at t0 and
// no replica ran for 10.5s. skip (the default) drops the nine ticks older
// than the start grace and enqueues the one just due; catch_up=3 enqueues
// the most recent three missed ones as well.
func TestSchedulerMissedTicks(t *testing.T) {
	for _, tt := range []struct {
		name     string
		catchUp  int
		enqueued []int
		skipped  int
		first    int
		last     int
	}{
		{"skip", 0, []int{10}, 9, 1, 9},
		{"catch_up", 3, []int{7, 8, 9, 10}, 6, 1, 6},
		{"catch_up_all", 20, span(1, 10), 0, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := setupSched(t)
			ctx := context.Background()
			sc := everySecond
			sc.CatchUp = tt.catchUp
			old := b.replica(t, time.Now, sc)
			e := old.ticks[0].e
			if err := old.writeLast(ctx, e, t0, time.Second); err != nil {
				t.Fatal(err)
			}
			s := b.replica(t, time.Now, sc)
			s.pass(ctx, t0.Add(10500*time.Millisecond))
			if got, want := b.taskIDs(t), ticks(e, t0, tt.enqueued...); !slices.Equal(got, want) {
				t.Fatalf("tasks %v, want %v", got, want)
			}
			skipped := b.logs.Events("schedule.skipped")
			if tt.skipped == 0 {
				if len(skipped) != 0 {
					t.Fatalf("skipped lines %v, want none", skipped)
				}
				return
			}
			if len(skipped) != 1 {
				t.Fatalf("%d schedule.skipped lines, want one summary", len(skipped))
			}
			l := skipped[0]
			if l["reason"] != "missed" || l["skipped"] != float64(tt.skipped) ||
				l["first_tick"] != tickString(t0.Add(time.Duration(tt.first)*time.Second)) ||
				l["tick"] != tickString(t0.Add(time.Duration(tt.last)*time.Second)) {
				t.Fatalf("schedule.skipped line %v", l)
			}
			caught := 0
			for _, l := range b.logs.Events("schedule.enqueued") {
				if l["caught_up"] == true {
					caught++
				}
			}
			if caught != len(tt.enqueued)-1 {
				t.Fatalf("%d enqueued lines say caught_up, want %d", caught, len(tt.enqueued)-1)
			}
		})
	}
}

// TestSchedulerFirstStartMissesNothing: with no tick ever recorded there is
// nothing to catch up, and nothing is logged as skipped.
func TestSchedulerFirstStartMissesNothing(t *testing.T) {
	b := setupSched(t)
	sc := everySecond
	sc.CatchUp = 5
	s := b.replica(t, time.Now, sc)
	s.pass(context.Background(), t0.Add(1500*time.Millisecond))
	if got, want := b.taskIDs(t), ticks(s.ticks[0].e, t0, 1); !slices.Equal(got, want) {
		t.Fatalf("tasks %v, want %v", got, want)
	}
	if n := len(b.logs.Events("schedule.skipped")); n != 0 {
		t.Fatalf("%d skipped lines", n)
	}
}

// TestSchedulerPausedProcess: a running replica whose loop comes back five
// minutes late (a paused process, a clock step) enqueues the ticks of the
// last tickLateMax and treats the older ones as missed.
func TestSchedulerPausedProcess(t *testing.T) {
	b := setupSched(t)
	ctx := context.Background()
	s := b.replica(t, time.Now, schedule.Schedule{Spec: "@every 10s", Type: "tick", Payload: []byte(`{}`)})
	e := s.ticks[0].e
	s.pass(ctx, t0.Add(-5*time.Second).Add(100*time.Millisecond)) // started 100ms after t0-5s: nothing due
	s.pass(ctx, t0.Add(300*time.Second).Add(100*time.Millisecond))
	// Ticks t0+0 .. t0+300 by 10s: those within a minute, t0+250 .. t0+300 (6), run.
	want := []int{250, 260, 270, 280, 290, 300}
	if got := b.taskIDs(t); !slices.Equal(got, ticks(e, t0, want...)) {
		t.Fatalf("tasks %v, want ticks %v", got, want)
	}
	skipped := b.logs.Events("schedule.skipped")
	if len(skipped) != 1 || skipped[0]["skipped"] != float64(25) {
		t.Fatalf("skipped lines %v, want one for 25 ticks", skipped)
	}
}

// TestSchedulerRolloutGap: the only replica stops after tick 6, its
// successor starts at 9.5s. The ticks of the gap were missed (skip), the
// one just due runs, and nothing before the gap is enqueued again.
func TestSchedulerRolloutGap(t *testing.T) {
	b := setupSched(t)
	ctx := context.Background()
	old := b.replica(t, time.Now, everySecond)
	e := old.ticks[0].e
	for i := range 7 {
		old.pass(ctx, t0.Add(time.Duration(i)*time.Second+10*time.Millisecond))
	}
	next := b.replica(t, time.Now, everySecond)
	next.pass(ctx, t0.Add(9500*time.Millisecond))
	next.pass(ctx, t0.Add(10010*time.Millisecond))
	if got, want := b.taskIDs(t), ticks(e, t0, 0, 1, 2, 3, 4, 5, 6, 9, 10); !slices.Equal(got, want) {
		t.Fatalf("tasks %v, want %v", got, want)
	}
	if s := b.logs.Events("schedule.skipped"); len(s) != 1 || s[0]["skipped"] != float64(2) {
		t.Fatalf("skipped %v, want ticks 7 and 8", s)
	}
}

// TestSchedulerStartDuringOutage: two replicas run; Redis stops answering
// them after tick 2 (their passes fail, so they do not come), and a third
// replica starting at 5.5s reaches Redis: it counts ticks 3 and 4 as
// missed and enqueues tick 5. The running replicas, answered again, still
// enqueue ticks 3 and 4, late: a later tick recorded does not mean these
// were, and no tick of the outage is lost.
func TestSchedulerStartDuringOutage(t *testing.T) {
	b := setupSched(t)
	ctx := context.Background()
	a, c := b.replica(t, time.Now, everySecond), b.replica(t, time.Now, everySecond)
	e := a.ticks[0].e
	for i := range 3 {
		now := t0.Add(time.Duration(i)*time.Second + 10*time.Millisecond)
		a.pass(ctx, now)
		c.pass(ctx, now)
	}
	fresh := b.replica(t, time.Now, everySecond)
	fresh.pass(ctx, t0.Add(5500*time.Millisecond))
	if got, want := b.taskIDs(t), ticks(e, t0, 0, 1, 2, 5); !slices.Equal(got, want) {
		t.Fatalf("after the fresh replica: tasks %v, want %v", got, want)
	}
	a.pass(ctx, t0.Add(5600*time.Millisecond))
	c.pass(ctx, t0.Add(5600*time.Millisecond))
	if got, want := b.taskIDs(t), ticks(e, t0, span(0, 5)...); !slices.Equal(got, want) {
		t.Fatalf("tasks %v, want every tick %v", got, want)
	}
}

// TestSchedulerNoOverlapCoalesces: while a NoOverlap schedule's last tick
// has not started, later ticks are skipped instead of piling up.
func TestSchedulerNoOverlapCoalesces(t *testing.T) {
	b := setupSched(t)
	ctx := context.Background()
	sc := everySecond
	sc.NoOverlap = true
	a := b.replica(t, time.Now, sc)
	c := b.replica(t, time.Now, sc)
	e := a.ticks[0].e
	for i := range 4 {
		now := t0.Add(time.Duration(i)*time.Second + 10*time.Millisecond)
		a.pass(ctx, now)
		c.pass(ctx, now)
	}
	if got, want := b.taskIDs(t), ticks(e, t0, 0); !slices.Equal(got, want) {
		t.Fatalf("tasks %v, want only the first tick's", got)
	}
	// Each replica skips each later tick (or sees it recorded): no task
	// either way, and every skip names the waiting tick.
	skipped := b.logs.Events("schedule.skipped")
	if len(skipped) < 3 {
		t.Fatalf("%d skipped lines, want one per later tick at least", len(skipped))
	}
	for _, l := range skipped {
		if l["reason"] != "overlap" || l["waiting_task_id"] != e.TaskID(t0) {
			t.Fatalf("skipped line %v", l)
		}
	}
}

// TestSchedulerStopsBetweenTicks: a scheduler being shut down enqueues no
// further tick, even in the middle of a catch-up.
func TestSchedulerStopsBetweenTicks(t *testing.T) {
	b := setupSched(t)
	sc := everySecond
	sc.CatchUp = 10
	s := b.replica(t, time.Now, sc)
	if err := s.writeLast(context.Background(), s.ticks[0].e, t0, time.Second); err != nil {
		t.Fatal(err)
	}
	close(s.stop)
	s.pass(context.Background(), t0.Add(10*time.Second))
	if got := b.taskIDs(t); len(got) != 0 {
		t.Fatalf("a stopped scheduler enqueued %v", got)
	}
}

// TestSchedulerRedisDown: a failed enqueue is logged and retried at the
// next pass; the tick is not lost.
func TestSchedulerRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	if srv.Embedded {
		t.Skip("needs redis-server to kill")
	}
	rdb := srv.Client()
	b := &schedBundle{rdb: rdb, client: asynq.NewClientFromRedisClient(rdb), inspector: asynq.NewInspectorFromRedisClient(rdb),
		reg: job.NewRegistry(), logs: &logtest.Buffer{}}
	if err := b.reg.Register(tickJob); err != nil {
		t.Fatal(err)
	}
	m, _ := newMetrics(prometheus.NewRegistry())
	b.gauge = m.scheduleLastTick
	ctx := context.Background()
	s := b.replica(t, time.Now, everySecond)
	s.pass(ctx, t0.Add(10*time.Millisecond))
	srv.Kill()
	if wake := s.pass(ctx, t0.Add(1010*time.Millisecond)); wake.Sub(t0.Add(1010*time.Millisecond)) != tickRetry {
		t.Fatalf("after a failure the next pass is at %v, want in %v", wake, tickRetry)
	}
	if n := len(b.logs.Events("schedule.failed")); n != 1 {
		t.Fatalf("%d schedule.failed lines, want 1", n)
	}
	srv.Restart()
	s.pass(ctx, t0.Add(2020*time.Millisecond))
	// The server lost tick 0 (no persistence); asynq's client does not
	// register its queue again, so look for the task keys themselves.
	e := s.ticks[0].e
	for _, i := range []int{1, 2} {
		key := asynqdb.TaskKey("default", e.TaskID(t0.Add(time.Duration(i)*time.Second)))
		if n, err := rdb.Exists(ctx, key).Result(); err != nil || n != 1 {
			t.Fatalf("tick %d: %s exists %d, %v; want the failed tick and the next enqueued", i, key, n, err)
		}
	}
}

func TestScheduleLockHeader(t *testing.T) {
	t.Parallel()
	withHeaders := func(h map[string]string) *Attempt {
		return &Attempt{Task: asynq.NewTaskWithHeaders("tick", nil, h)}
	}
	a := withHeaders(map[string]string{HeaderSchedule: "s1", headerScheduleLock: "3s"})
	scheduleLock(a)
	if l := a.prepared.Lock; l.Key != "schedule:s1" || l.TTL != 3*time.Second || l.Wait >= 0 {
		t.Fatalf("lock %+v, want schedule:s1, 3s, a single try", l)
	}
	a = withHeaders(map[string]string{HeaderSchedule: "s1"})
	scheduleLock(a)
	if a.prepared.Lock.Key != "" {
		t.Fatalf("a schedule without NoOverlap got lock %+v", a.prepared.Lock)
	}
	a = withHeaders(map[string]string{HeaderSchedule: "s1", headerScheduleLock: "3s"})
	a.prepared.Lock = job.Lock{Key: "own"}
	scheduleLock(a)
	if a.prepared.Lock.Key != "own" {
		t.Fatalf("the job's own lock was replaced by %+v", a.prepared.Lock)
	}
	if got := scheduleLockTTL(time.Second); got != 3*time.Second {
		t.Fatalf("lock TTL for 1s = %v", got)
	}
	if got := scheduleLockTTL(time.Hour); got != 30*time.Second {
		t.Fatalf("lock TTL for 1h = %v", got)
	}
}

func gaugeValue(t *testing.T, g *prometheus.GaugeVec, label string) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.WithLabelValues(label).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
