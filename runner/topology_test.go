package runner_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobrunner/jobrunner/internal/testkit/clock"
	"github.com/jobrunner/jobrunner/internal/testkit/logtest"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
	"github.com/jobrunner/jobrunner/schedule"
)

// TestLayersOnTopologies runs the newer layers on one Redis, a 3-primary
// cluster and behind Sentinel (with passwords on both sides), each
// topology started once for all of them: dependency limits (concurrency
// and rate) shared by two runners, the wake-up of jobs deferred by a full
// limit, a schedule run by two replicas (one run per tick), the deferral
// bound, and trace propagation from the producer to the handler. Each
// layer has its own queue, types and dependency, so they share a topology
// without meeting.
//
// On a cluster every layer's keys for one name share a slot by their hash
// tag: a dependency's limit keys ({limit:NAME}), a schedule's record
// ({NAME}), a job's dedupe keys ({TYPE:KEY}); asynq keeps a queue in one
// slot ({QUEUE}). The layers' scripts never span two tags.
func TestLayersOnTopologies(t *testing.T) {
	t.Parallel()
	for _, topo := range redistest.Topologies() {
		t.Run(topo.Name, func(t *testing.T) {
			t.Parallel()
			env := topo.Start(t)
			t.Run("concurrency_limit", func(t *testing.T) { t.Parallel(); topoConcurrencyLimit(t, env) })
			t.Run("rate_limit", func(t *testing.T) { t.Parallel(); topoRateLimit(t, env) })
			t.Run("schedule", func(t *testing.T) { t.Parallel(); topoSchedule(t, env) })
			t.Run("deferral_bound", func(t *testing.T) { t.Parallel(); topoDeferralBound(t, env) })
			t.Run("trace", func(t *testing.T) { t.Parallel(); topoTrace(t, env) })
		})
	}
}

// topoRunner returns a runner on its own client of env, serving queue
// only, with its own logs; it is started by start.
func topoRunner(t *testing.T, env *redistest.Env, queue string, cfg runner.Config) (*runner.Runner, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel)
	cfg.Redis = env.NewClient()
	cfg.Logger = &log
	cfg.Queues = map[string]int{queue: 1}
	cfg.PollInterval = 10 * time.Millisecond
	cfg.DelayedCheckInterval = 100 * time.Millisecond
	cfg.ShutdownTimeout = 5 * time.Second
	cfg.Metrics = prometheus.NewRegistry()
	r, err := runner.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, logs
}

func events(bufs []*logtest.Buffer, ev string) int {
	n := 0
	for _, b := range bufs {
		n += len(b.Events(ev))
	}
	return n
}

func enqueueOn(t *testing.T, env *redistest.Env, queue, typ string, n int) {
	t.Helper()
	c := asynq.NewClientFromRedisClient(env.Client)
	for range n {
		if _, err := c.Enqueue(asynq.NewTask(typ, []byte(`{"name":"a"}`)), asynq.Queue(queue), asynq.MaxRetry(3)); err != nil {
			t.Fatal(err)
		}
	}
}

// topoConcurrencyLimit: two runners share a cap of 2 on a dependency; a
// job refused by the full cap is deferred (the longest waiter is woken
// when a slot frees: lockstore's waiters list, then asynq's retry set, on
// two different slots of a cluster), never more than 2 run at once, every
// slot is given back and nothing fails.
func topoConcurrencyLimit(t *testing.T, env *redistest.Env) {
	const q, typ = "topo-conc", "topo.conc"
	lj := &limitedJob{hold: 150 * time.Millisecond}
	var logs []*logtest.Buffer
	for range 2 {
		r, l := topoRunner(t, env, q, runner.Config{Concurrency: 4, Limits: map[string]runner.Limit{"topo-conc-dep": {Concurrency: 2}}})
		d := lj.def(typ)
		d.Queue = q
		d.Dependencies = func(greet) []string { return []string{"topo-conc-dep"} }
		if err := r.Register(d); err != nil {
			t.Fatal(err)
		}
		start(t, r)
		logs = append(logs, l)
	}
	began := time.Now()
	enqueueOn(t, env, q, typ, 12)
	waitFor(t, 60*time.Second, "every job done", func() bool { return events(logs, "job.done") == 12 })
	took := time.Since(began)
	t.Logf("12 jobs of 150ms under a cap of 2 across 2 runners: %v, peak %d, %d deferrals", took.Round(time.Millisecond),
		lj.peak.Load(), events(logs, "job.deferred"))
	if p := lj.peak.Load(); p > 2 {
		t.Fatalf("peak concurrency %d across the runners, cap 2", p)
	}
	if events(logs, "job.failed") != 0 {
		t.Fatal("a limited job failed an attempt")
	}
	if events(logs, "job.deferred") == 0 {
		t.Fatal("no job was deferred by the full cap")
	}
	if n, _ := env.Client.ZCard(context.Background(), "jobrunner:{limit:topo-conc-dep}:slots").Result(); n != 0 {
		t.Fatalf("%d slots still held", n)
	}
}

// topoRateLimit: two runners share 4 starts a second on a dependency.
func topoRateLimit(t *testing.T, env *redistest.Env) {
	const q, typ = "topo-rate", "topo.rate"
	lj := &limitedJob{}
	var logs []*logtest.Buffer
	for range 2 {
		r, l := topoRunner(t, env, q, runner.Config{Concurrency: 4, Limits: map[string]runner.Limit{
			"topo-rate-dep": {Rate: runner.Rate{N: 4, Per: time.Second}},
		}})
		d := lj.def(typ)
		d.Queue = q
		d.Dependencies = func(greet) []string { return []string{"topo-rate-dep"} }
		if err := r.Register(d); err != nil {
			t.Fatal(err)
		}
		start(t, r)
		logs = append(logs, l)
	}
	enqueueOn(t, env, q, typ, 12)
	waitFor(t, 60*time.Second, "every job done", func() bool { return events(logs, "job.done") == 12 })
	if got := lj.maxInWindow(rateSeen); got > 4 {
		t.Fatalf("%d starts within %v across the runners, limit 4/s (%d within one second)", got, rateSeen, lj.maxInWindow(time.Second))
	}
	if events(logs, "job.failed") != 0 {
		t.Fatal("a limited job failed an attempt")
	}
}

// topoSchedule: two replicas run a 1s schedule; every tick runs once,
// under its tick's task ID.
func topoSchedule(t *testing.T, env *redistest.Env) {
	const q = "topo-sched"
	var mu sync.Mutex
	ran := map[string]int{} // tick -> runs
	def := &job.Definition[greet]{Type: "topo.tick", Queue: q, Handle: func(context.Context, greet) error { return nil }}
	var logs []*logtest.Buffer
	var rs []*runner.Runner
	for range 2 {
		r, l := topoRunner(t, env, q, runner.Config{})
		r.Use(func(next runner.HandlerFunc) runner.HandlerFunc {
			return func(ctx context.Context, a *runner.Attempt) error {
				mu.Lock()
				ran[a.Task.Headers()[runner.HeaderTick]]++
				mu.Unlock()
				return next(ctx, a)
			}
		})
		if err := r.Register(def); err != nil {
			t.Fatal(err)
		}
		s, err := schedule.For(def, "@every 1s", greet{Name: "a"})
		if err != nil {
			t.Fatal(err)
		}
		s.Name = "topo-" + env.Name
		if err := r.Schedule(s); err != nil {
			t.Fatal(err)
		}
		start(t, r)
		logs = append(logs, l)
		rs = append(rs, r)
	}
	waitFor(t, 30*time.Second, "4 ticks to run", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ran) >= 4
	})
	for _, r := range rs { // stop both, then count
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = r.Shutdown(ctx)
		cancel()
	}
	mu.Lock()
	defer mu.Unlock()
	for tick, n := range ran {
		if n != 1 {
			t.Errorf("tick %s ran %d times", tick, n)
		}
	}
	if e := events(logs, "schedule.enqueued"); e != len(ran) && e != len(ran)+1 { // the last may wait, unrun
		t.Errorf("%d ticks enqueued, %d ran", e, len(ran))
	}
}

// topoDeferralBound: a job that always defers is archived once its
// MaxDeferral has passed (a fake clock), through its chain of copies.
func topoDeferralBound(t *testing.T, env *redistest.Env) {
	const q = "topo-bound"
	clk := clock.NewFake()
	r, logs := topoRunner(t, env, q, runner.Config{Now: clk.Now})
	d := alwaysDefers("topo.defers", time.Hour)
	d.Queue = q
	if err := r.Register(d); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	c := asynq.NewClientFromRedisClient(env.Client)
	if _, err := c.Enqueue(asynq.NewTask(d.Type, []byte(`{"name":"a"}`)), asynq.Queue(q), asynq.MaxRetry(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a few deferrals", func() bool { return len(logs.Events("job.deferred")) >= 3 })
	clk.Advance(time.Hour + time.Minute)
	waitFor(t, 20*time.Second, "the job archived", func() bool { return len(logs.Events("job.failed")) == 1 })
	if l := logs.Events("job.failed")[0]; l["reason"] != "deferred_too_long" {
		t.Fatalf("archived with %v", l)
	}
	insp := asynq.NewInspectorFromRedisClient(env.Client)
	waitFor(t, 10*time.Second, "nothing left but the archive", func() bool {
		qi, err := insp.GetQueueInfo(q)
		return err == nil && qi.Archived == 1 && qi.Pending+qi.Scheduled+qi.Retry+qi.Active == 0
	})
}

// topoTrace: the attempt's span is a child of the producer's span that
// enqueued the job, through asynq's headers, on every topology.
func topoTrace(t *testing.T, env *redistest.Env) {
	const q = "topo-trace"
	tr := newTraced(t)
	r, _ := topoRunner(t, env, q, runner.Config{TracerProvider: tr.tp})
	d := &job.Definition[greet]{Type: "topo.traced", Queue: q, DedupeKey: func(g greet) string { return g.Name },
		Lock:   func(g greet) job.Lock { return job.Lock{Key: "topo-trace:" + g.Name} },
		Handle: func(context.Context, greet) error { return nil }}
	if err := r.Register(d); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	ctx, parent := tr.tp.Tracer("producer").Start(context.Background(), "POST /greet")
	if _, err := d.Enqueue(ctx, asynq.NewClientFromRedisClient(env.Client), greet{Name: "t-" + env.Name}); err != nil {
		t.Fatal(err)
	}
	parent.End()
	s := tr.waitSpans(t, "job topo.traced", 1)[0]
	if s.SpanKind != trace.SpanKindConsumer || s.Parent.SpanID() != parent.SpanContext().SpanID() ||
		s.SpanContext.TraceID() != parent.SpanContext().TraceID() {
		t.Fatalf("job span: kind %v, parent %v; want a consumer span under the producer's %v", s.SpanKind, s.Parent, parent.SpanContext())
	}
}
