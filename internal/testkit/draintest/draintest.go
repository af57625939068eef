// Package draintest is the drain acceptance suite: one set of subprocess
// tests of the shutdown coordinator, run against any worker binary and
// configuration that speaks cmd/worker's contract (Watermill's TestPubSub is
// the model). A caller supplies how to start a worker and which optional
// features it has:
//
//	func TestDrain(t *testing.T) {
//		draintest.Run(t, draintest.Config{
//			Features: draintest.Features{Quiet: true},
//			Start: func(t testing.TB, srv *redistest.Server, env ...string) *workertest.Worker {
//				return workertest.Start(t, srv, env)
//			},
//		})
//	}
//
// # Contract
//
// The worker reads REDIS_URL, WORKER_HTTP_ADDR, WORKER_CONCURRENCY,
// WORKER_SHUTDOWN_TIMEOUT, WORKER_POLL_INTERVAL and LOG_LEVEL; logs JSON
// lines with the runner's events (job.started at debug, job.done,
// job.deferred with reason, drain.started, drain.hard, drain.done,
// drain.escalated, drain.aborted, worker.quiet); serves /readyz and
// /healthz; runs demo.sleep ({"ms": N}, honouring cancellation); and exits
// 0 after a clean drain, 1 after a third signal.
//
// Each subtest gets its own Redis, of Config.Topology (one server unless
// told), reached through REDIS_URL. The timing-sensitive subtests
// (readiness latency, idle drain) run first and alone; the rest run in
// parallel. Config.Only picks subtests by name, so that a caller can run
// on a cluster or behind Sentinel only those whose Redis traffic differs
// there.
package draintest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// Features are the optional behaviours a worker under test has; the
// subtests that need a feature are skipped without it.
type Features struct {
	// Quiet: SIGTSTP stops fetching and keeps running in-flight jobs.
	Quiet bool

	// ExclusiveAfterAbandon: a handler that ignores its context and is
	// abandoned by the hard phase is never run concurrently with the next
	// run of its task, which asynq requeues (the lock and in-flight marker
	// layers defer it until the old handler has really stopped). Needs
	// Config.StubbornJob.
	ExclusiveAfterAbandon bool
}

// Config configures Run.
type Config struct {
	Features Features

	// Start runs a worker with env (KEY=VALUE, REDIS_URL among them) added
	// to its environment and returns once its log says worker.started;
	// srv is the subtest's server, nil on a cluster or Sentinel. Required.
	Start func(t testing.TB, srv *redistest.Server, env ...string) *workertest.Worker

	// SleepJob returns a task that sleeps ms milliseconds and returns early
	// when its context is cancelled. Defaults to demo.sleep.
	SleepJob func(ms int) *asynq.Task

	// StubbornJob returns a task that sleeps ms milliseconds ignoring its
	// context, and takes a lock (so the lock layer is involved). Required
	// by Features.ExclusiveAfterAbandon.
	StubbornJob func(ms int) *asynq.Task

	// Topology is the Redis each subtest starts. The zero value is one
	// server (redistest.Start).
	Topology redistest.Topology

	// Only names the subtests to run (the names Run gives t.Run); the
	// others are skipped. Nil runs them all.
	Only []string
}

// Run runs the suite.
func Run(t *testing.T, cfg Config) {
	if cfg.Start == nil {
		t.Fatal("draintest: Config.Start is nil")
	}
	if cfg.SleepJob == nil {
		cfg.SleepJob = func(ms int) *asynq.Task {
			return asynq.NewTask("demo.sleep", fmt.Appendf(nil, `{"ms":%d}`, ms))
		}
	}
	only := func(t *testing.T, name string) {
		if cfg.Only != nil && !slices.Contains(cfg.Only, name) {
			t.Skip("not in draintest.Config.Only")
		}
	}
	// Alone: their bounds are latencies.
	t.Run("ReadinessFlipsWithinBound", func(t *testing.T) {
		only(t, "ReadinessFlipsWithinBound")
		testReadiness(t, cfg)
	})
	t.Run("IdleDrainIsFast", func(t *testing.T) {
		only(t, "IdleDrainIsFast")
		testIdleDrain(t, cfg)
	})

	for _, tc := range []struct {
		name string
		need bool
		f    func(*testing.T, Config)
	}{
		{"InFlightFinishUnstartedStayPending", true, testInFlightFinish},
		{"NoJobStartsAfterSignal", true, testNoStartAfterSignal},
		{"HardPhaseRequeueKeepsAttempt", true, testHardPhase},
		{"SecondSignalEscalates", true, testSecondSignal},
		{"ThirdSignalExitsAtOnce", true, testThirdSignal},
		{"QuietStopsFetching", cfg.Features.Quiet, testQuiet},
		{"AbandonedHandlerNeverRunsTwiceAtOnce", cfg.Features.ExclusiveAfterAbandon, testExclusiveAfterAbandon},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.need {
				t.Skip("feature not enabled in draintest.Config.Features")
			}
			only(t, tc.name)
			t.Parallel()
			tc.f(t, cfg)
		})
	}
}

// ReadinessBound is how soon after the first signal /readyz must answer 503.
const ReadinessBound = 100 * time.Millisecond

// noRaceExitSleep stops a -race binary from sleeping a second at exit (the
// race runtime's atexit_sleep_ms default), which would swamp the timings.
const noRaceExitSleep = "GORACE=atexit_sleep_ms=0"

// harness is one subtest's Redis and the means to look into it.
type harness struct {
	t         *testing.T
	cfg       Config
	env       *redistest.Env
	client    *asynq.Client
	inspector *asynq.Inspector
}

func newHarness(t *testing.T, cfg Config) *harness {
	topo := cfg.Topology
	if topo.Start == nil {
		topo = redistest.Topologies()[0] // one server
	}
	env := topo.Start(t)
	return &harness{t: t, cfg: cfg, env: env,
		client: asynq.NewClientFromRedisClient(env.Client), inspector: asynq.NewInspectorFromRedisClient(env.Client)}
}

// embedded reports whether the subtest's Redis is a miniredis.
func (h *harness) embedded() bool { return h.env.Server != nil && h.env.Server.Embedded }

// startWith runs a worker on the subtest's Redis with env added.
func (h *harness) startWith(env ...string) *workertest.Worker {
	h.t.Helper()
	return h.cfg.Start(h.t, h.env.Server, append([]string{"REDIS_URL=" + h.env.URL, noRaceExitSleep}, env...)...)
}

// start runs a worker with debug logs, fast polling and the given settings.
func (h *harness) start(concurrency int, shutdownTimeout time.Duration) *workertest.Worker {
	h.t.Helper()
	return h.startWith("LOG_LEVEL=debug", "WORKER_POLL_INTERVAL=20ms",
		"WORKER_CONCURRENCY="+strconv.Itoa(concurrency),
		"WORKER_SHUTDOWN_TIMEOUT="+shutdownTimeout.String())
}

func (h *harness) enqueue(n int, task func() *asynq.Task) []string {
	h.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		info, err := h.client.Enqueue(task())
		if err != nil {
			h.t.Fatal(err)
		}
		ids[i] = info.ID
	}
	return ids
}

func (h *harness) sleepJobs(n, ms int) []string {
	return h.enqueue(n, func() *asynq.Task { return h.cfg.SleepJob(ms) })
}

// waitStarted waits until w has logged job.started for n distinct tasks.
func waitStarted(t *testing.T, w *workertest.Worker, n int, timeout time.Duration) []string {
	t.Helper()
	seen := map[string]bool{}
	_, ok := w.WaitFor(timeout, func(l workertest.Line) bool {
		if l.Str("event") == "job.started" {
			seen[l.Str("task_id")] = true
		}
		return len(seen) >= n
	})
	if !ok {
		t.Fatalf("%d of %d jobs started within %v; output:\n%s", len(seen), n, timeout, w.Raw())
	}
	ids := make([]string, 0, n)
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// waitRunning is waitStarted for jobs that must be in flight when the test
// signals: job.started is logged just before the shutdown coordinator
// admits the job, and a job caught in between is put back, not run.
func waitRunning(t *testing.T, w *workertest.Worker, n int, timeout time.Duration) []string {
	t.Helper()
	ids := waitStarted(t, w, n, timeout)
	time.Sleep(admitSlack)
	return ids
}

// admitSlack is ample time for a started job to get admitted.
const admitSlack = 200 * time.Millisecond

// waitExit waits for the worker to exit and checks its status.
func waitExit(t *testing.T, w *workertest.Worker, want int, timeout time.Duration) {
	t.Helper()
	if got := w.Wait(timeout); got != want {
		t.Fatalf("exit status %d, want %d; output:\n%s", got, want, w.Raw())
	}
}

// requireRequeued checks that each task is waiting in Redis again (pending,
// or retry if it was put back through a deferral) with no attempt counted.
func (h *harness) requireRequeued(ids ...string) {
	h.t.Helper()
	for _, id := range ids {
		info, err := h.inspector.GetTaskInfo("default", id)
		if err != nil {
			h.t.Fatalf("task %s: %v", id, err)
		}
		if info.State != asynq.TaskStatePending && info.State != asynq.TaskStateRetry {
			h.t.Errorf("task %s is %v, want pending or retry", id, info.State)
		}
		if info.Retried != 0 {
			h.t.Errorf("task %s retried = %d, want 0: the drain counted an attempt", id, info.Retried)
		}
	}
}

// waitQueueEmpty waits until nothing is pending, scheduled, retrying or
// active in the default queue.
func (h *harness) waitQueueEmpty(timeout time.Duration) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		q, err := h.inspector.GetQueueInfo("default")
		if err == nil && q.Pending+q.Active+q.Scheduled+q.Retry == 0 {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("queue not empty after %v: %+v (err %v)", timeout, q, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// requireDoneOnce checks that every task completed exactly once across the
// workers' logs.
func requireDoneOnce(t *testing.T, ids []string, ws ...*workertest.Worker) {
	t.Helper()
	done := map[string]int{}
	for _, w := range ws {
		for _, l := range w.Lines("job.done") {
			done[l.Str("task_id")]++
		}
	}
	for _, id := range ids {
		if done[id] != 1 {
			t.Errorf("task %s completed %d times, want exactly once", id, done[id])
		}
	}
}

// requireNoStartAfterDrain checks that every job.started logged after
// drain.started belongs to a job that was put back (deferred, reason
// shutdown) and never completed on this worker.
func requireNoStartAfterDrain(t *testing.T, w *workertest.Worker) {
	t.Helper()
	lines := w.Lines("")
	at := slices.IndexFunc(lines, func(l workertest.Line) bool { return l.Str("event") == "drain.started" })
	if at < 0 {
		t.Fatal("no drain.started line")
	}
	for i, l := range lines[at:] {
		if l.Str("event") != "job.started" {
			continue
		}
		id := l.Str("task_id")
		deferred := false
		for _, m := range lines[at+i:] {
			if m.Str("task_id") != id {
				continue
			}
			switch m.Str("event") {
			case "job.deferred":
				deferred = m.Str("reason") == "shutdown"
			case "job.done", "job.failed", "job.skipped":
				t.Errorf("task %s started after drain.started and ran: %v", id, m)
			}
		}
		if !deferred {
			t.Errorf("task %s started after drain.started and was not deferred for shutdown", id)
		}
	}
}

func lastLine(t *testing.T, w *workertest.Worker, ev string) workertest.Line {
	t.Helper()
	ls := w.Lines(ev)
	if len(ls) == 0 {
		t.Fatalf("no %s line; output:\n%s", ev, w.Raw())
	}
	return ls[len(ls)-1]
}

func testReadiness(t *testing.T, cfg Config) {
	h := newHarness(t, cfg)
	w := h.start(2, 10*time.Second)
	h.sleepJobs(1, 1500)
	waitRunning(t, w, 1, 5*time.Second)
	if code, body := w.Get("/readyz"); code != http.StatusOK {
		t.Fatalf("readyz before the signal = %d %q", code, body)
	}

	t0 := time.Now()
	w.Signal(syscall.SIGTERM)
	var flip time.Duration
	for {
		code, body := w.Get("/readyz")
		if code == http.StatusServiceUnavailable {
			flip = time.Since(t0)
			if body != "draining\n" {
				t.Errorf("readyz body = %q, want \"draining\\n\"", body)
			}
			break
		}
		if time.Since(t0) > 2*time.Second {
			t.Fatalf("readyz still %d %q 2s after SIGTERM", code, body)
		}
	}
	t.Logf("readiness flipped %v after SIGTERM (bound %v)", flip, ReadinessBound)
	if flip > ReadinessBound {
		t.Errorf("readyz turned 503 %v after SIGTERM, want within %v", flip, ReadinessBound)
	}
	// The job runs for about another second: liveness must hold meanwhile.
	for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(25 * time.Millisecond) {
		if code, body := w.Get("/healthz"); code != http.StatusOK {
			t.Fatalf("healthz = %d %q while draining, want 200", code, body)
		}
	}
	waitExit(t, w, 0, 10*time.Second)
	s := lastLine(t, w, "drain.started")
	if s.Int("in_flight") != 1 || s.Str("deadline") == "" || s.Str("escalation") == "" {
		t.Errorf("drain.started = %v, want in_flight 1, a deadline and the escalation hint", s)
	}
	if d := lastLine(t, w, "drain.done"); d.Int("finished") != 1 || d.Int("requeued") != 0 || d["clean"] != true {
		t.Errorf("drain.done = %v, want finished 1, requeued 0, clean", d)
	}
}

func testIdleDrain(t *testing.T, cfg Config) {
	h := newHarness(t, cfg)
	w := h.startWith() // default poll interval, as in production
	time.Sleep(300 * time.Millisecond)
	t0 := time.Now()
	w.Signal(syscall.SIGTERM)
	waitExit(t, w, 0, 10*time.Second)
	el := time.Since(t0)
	t.Logf("idle drain: SIGTERM to exit in %v (target 200ms)", el)
	if el > time.Second {
		t.Errorf("idle worker took %v from SIGTERM to exit", el)
	}
}

func testInFlightFinish(t *testing.T, cfg Config) {
	h := newHarness(t, cfg)
	ids := h.sleepJobs(6, 800)
	a := h.start(2, 10*time.Second)
	running := waitRunning(t, a, 2, 10*time.Second)
	a.Signal(syscall.SIGTERM)
	waitExit(t, a, 0, 10*time.Second)
	requireNoStartAfterDrain(t, a)
	if d := lastLine(t, a, "drain.done"); d.Int("finished") != 2 || d.Int("requeued") != 0 {
		t.Errorf("drain.done = %v, want finished 2, requeued 0", d)
	}
	var rest []string
	for _, id := range ids {
		if !slices.Contains(running, id) {
			rest = append(rest, id)
		}
	}
	h.requireRequeued(rest...)

	b := h.start(10, 10*time.Second)
	h.waitQueueEmpty(15 * time.Second)
	for _, l := range b.Lines("job.started") {
		if l.Int("attempt") != 1 {
			t.Errorf("second worker: %v, want attempt 1", l)
		}
	}
	b.Signal(syscall.SIGTERM)
	waitExit(t, b, 0, 10*time.Second)
	requireDoneOnce(t, ids, a, b)
}

func testNoStartAfterSignal(t *testing.T, cfg Config) {
	h := newHarness(t, cfg)
	ids := h.sleepJobs(150, 20)
	a := h.start(8, 10*time.Second)
	done := 0
	if _, ok := a.WaitFor(10*time.Second, func(l workertest.Line) bool {
		if l.Str("event") == "job.done" {
			done++
		}
		return done >= 20
	}); !ok {
		t.Fatalf("the worker did not get going; output:\n%s", a.Raw())
	}
	a.Signal(syscall.SIGTERM)
	waitExit(t, a, 0, 10*time.Second)
	requireNoStartAfterDrain(t, a)

	b := h.start(8, 10*time.Second)
	h.waitQueueEmpty(20 * time.Second)
	b.Signal(syscall.SIGTERM)
	waitExit(t, b, 0, 10*time.Second)
	requireDoneOnce(t, ids, a, b)
	t.Logf("%d jobs done before the drain, %d after", len(a.Lines("job.done")), len(b.Lines("job.done")))
}

func testHardPhase(t *testing.T, cfg Config) {
	const timeout = time.Second
	h := newHarness(t, cfg)
	ids := h.sleepJobs(1, 2500)
	a := h.start(2, timeout)
	waitRunning(t, a, 1, 10*time.Second)
	t0 := time.Now()
	a.Signal(syscall.SIGTERM)
	waitExit(t, a, 0, 10*time.Second)
	if el := time.Since(t0); el > timeout+time.Second {
		t.Errorf("drain took %v; a job honouring cancellation should end it soon after %v", el, timeout)
	}
	if l := lastLine(t, a, "drain.hard"); l.Str("cause") != "deadline" {
		t.Errorf("drain.hard = %v, want cause deadline", l)
	}
	if l := lastLine(t, a, "job.deferred"); l.Str("reason") != "shutdown" || l.Str("task_id") != ids[0] {
		t.Errorf("job.deferred = %v, want reason shutdown for %s", l, ids[0])
	}
	if d := lastLine(t, a, "drain.done"); d.Int("requeued") != 1 || d.Int("finished") != 0 || d["clean"] != true {
		t.Errorf("drain.done = %v, want requeued 1, clean", d)
	}
	h.requireRequeued(ids...)

	b := h.start(2, 10*time.Second)
	l := waitStarted(t, b, 1, 10*time.Second)
	if l[0] != ids[0] {
		t.Fatalf("second worker started %v, want %s", l, ids[0])
	}
	if started := b.Lines("job.started"); started[0].Int("attempt") != 1 {
		t.Errorf("second worker: %v, want attempt 1 (the hard stop counted none)", started[0])
	}
	b.WaitEvent("job.done", 10*time.Second)
	b.Signal(syscall.SIGTERM)
	waitExit(t, b, 0, 10*time.Second)
	requireDoneOnce(t, ids, a, b)
}

// longRunning starts a worker with a long shutdown timeout, busy with one
// job that outlasts the test unless the drain cuts it short, and sends the
// first SIGTERM.
func longRunning(t *testing.T, cfg Config) (*harness, *workertest.Worker, string) {
	h := newHarness(t, cfg)
	ids := h.sleepJobs(1, 60_000)
	w := h.start(2, time.Minute)
	waitRunning(t, w, 1, 10*time.Second)
	w.Signal(syscall.SIGTERM)
	w.WaitEvent("drain.started", 5*time.Second)
	return h, w, ids[0]
}

func testSecondSignal(t *testing.T, cfg Config) {
	h, w, id := longRunning(t, cfg)
	t0 := time.Now()
	w.Signal(syscall.SIGINT)
	waitExit(t, w, 0, 10*time.Second)
	if el := time.Since(t0); el > 2*time.Second {
		t.Errorf("exit %v after the second signal, want the hard phase at once", el)
	}
	w.WaitEvent("drain.escalated", 0)
	if l := lastLine(t, w, "drain.hard"); l.Str("cause") != "requested" {
		t.Errorf("drain.hard = %v, want cause requested", l)
	}
	h.requireRequeued(id)
}

func testThirdSignal(t *testing.T, cfg Config) {
	_, w, _ := longRunning(t, cfg)
	// Two different signals back to back: a pending signal of one kind
	// is delivered once, however often it was sent.
	t0 := time.Now()
	w.Signal(syscall.SIGINT)
	w.Signal(syscall.SIGTERM)
	waitExit(t, w, 1, 5*time.Second)
	t.Logf("exit 1 %v after the third signal", time.Since(t0))
	w.WaitEvent("drain.aborted", 0)
}

func testQuiet(t *testing.T, cfg Config) {
	h := newHarness(t, cfg)
	first := h.sleepJobs(1, 700)
	w := h.start(4, 10*time.Second)
	waitRunning(t, w, 1, 10*time.Second)
	w.Signal(syscall.SIGTSTP)
	w.WaitEvent("worker.quiet", 5*time.Second)
	later := h.sleepJobs(1, 10)
	w.WaitEvent("job.done", 5*time.Second) // the in-flight job runs on
	time.Sleep(300 * time.Millisecond)     // 15 polls at 20ms
	for _, l := range w.Lines("job.started") {
		if l.Str("task_id") == later[0] {
			t.Fatalf("a quiet worker started %s", later[0])
		}
	}
	if code, _ := w.Get("/healthz"); code != http.StatusOK {
		t.Errorf("healthz = %d on a quiet worker", code)
	}
	// A quiet worker takes no work: it is not ready (it used to stay 200).
	if code, body := w.Get("/readyz"); code != http.StatusServiceUnavailable || body != "quiet\n" {
		t.Errorf("readyz = %d %q on a quiet worker, want 503 \"quiet\"", code, body)
	}
	w.Signal(syscall.SIGTERM)
	waitExit(t, w, 0, 10*time.Second)
	requireDoneOnce(t, first, w)
	h.requireRequeued(later...)
}

// testExclusiveAfterAbandon: worker A runs a job that ignores its context;
// its drain abandons the handler and asynq requeues the task while it still
// runs. Worker B is already up and fetching: it must not run the task again
// until A's handler has really stopped (here: A has exited), so its run
// starts after A's exit. A exits 1: its drain was not clean.
func testExclusiveAfterAbandon(t *testing.T, cfg Config) {
	if cfg.StubbornJob == nil {
		t.Fatal("draintest: Features.ExclusiveAfterAbandon needs Config.StubbornJob")
	}
	// The handler must outlive the drain (0.5s soft + 3s hard) by a wide
	// margin, so that a loaded machine still abandons it.
	const run = 7000 * time.Millisecond
	h := newHarness(t, cfg)
	if h.embedded() {
		t.Skip("the abandoned job's lock must expire, and miniredis TTLs do not move by themselves; CI runs this on redis-server")
	}
	info, err := h.client.Enqueue(cfg.StubbornJob(int(run.Milliseconds())))
	if err != nil {
		t.Fatal(err)
	}
	a := h.start(2, 500*time.Millisecond)
	waitRunning(t, a, 1, 10*time.Second)
	b := h.start(2, 10*time.Second)
	a.Signal(syscall.SIGTERM)
	waitExit(t, a, 1, 15*time.Second)
	aExit := time.Now()
	if l := lastLine(t, a, "drain.abandoned"); !slices.Contains(anyStrings(l["task_ids"]), info.ID) {
		t.Errorf("drain.abandoned = %v, want %s", l, info.ID)
	}
	done, ok := b.WaitFor(time.Minute, func(l workertest.Line) bool {
		// The abandoned task itself runs again: no copy.
		return l.Str("event") == "job.done" && l.Str("task_id") == info.ID
	})
	if !ok {
		t.Fatalf("second worker never completed %s; output:\n%s", info.ID, b.Raw())
	}
	// The handler sleeps exactly run, so its run began run before now.
	if began := time.Now().Add(-run); began.Before(aExit.Add(-50 * time.Millisecond)) {
		t.Errorf("second worker ran %s from about %v, before the first worker's handler stopped at %v (%v)",
			info.ID, began.Format(time.StampMilli), aExit.Format(time.StampMilli), done)
	}
	b.Signal(syscall.SIGTERM)
	waitExit(t, b, 0, 10*time.Second)
}

func anyStrings(v any) []string {
	var out []string
	if vs, ok := v.([]any); ok {
		for _, x := range vs {
			s, _ := x.(string)
			out = append(out, s)
		}
	}
	return out
}
