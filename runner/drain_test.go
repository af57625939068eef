package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

// blockPayload drives blocker: Mode is "sleep" (MS milliseconds, honouring
// ctx), "ctx" (until ctx is done), "interrupt" (until the drain starts, then
// ErrInterrupted) or "stubborn" (until the test releases it, ignoring ctx).
type blockPayload struct {
	Mode string `json:"mode"`
	MS   int    `json:"ms,omitempty"`
	Key  string `json:"key,omitempty"` // dedupe key, if any
}

// blocker is a job whose handler reports its start, its context's cause
// and its return to the test.
type blocker struct {
	started  chan string // task IDs
	causes   chan error  // context.Cause when ctx ended, for "ctx"
	release  chan struct{}
	returned sync.WaitGroup
}

func newBlocker() *blocker {
	return &blocker{started: make(chan string, 16), causes: make(chan error, 16), release: make(chan struct{})}
}

func (bl *blocker) spec() job.Spec {
	return &job.Definition[blockPayload]{Type: "drain.block", Handle: bl.handle,
		DedupeKey: func(p blockPayload) string { return p.Key }}
}

func (bl *blocker) handle(ctx context.Context, p blockPayload) error {
	bl.returned.Add(1)
	defer bl.returned.Done()
	id, _ := asynq.GetTaskID(ctx)
	bl.started <- id
	switch p.Mode {
	case "sleep":
		select {
		case <-time.After(time.Duration(p.MS) * time.Millisecond):
			return nil
		case <-ctx.Done():
			bl.causes <- context.Cause(ctx)
			return ctx.Err()
		}
	case "ctx":
		<-ctx.Done()
		bl.causes <- context.Cause(ctx)
		return fmt.Errorf("stopped: %w", ctx.Err())
	case "interrupt":
		select {
		case <-job.Draining(ctx):
			return fmt.Errorf("checkpointed: %w", job.ErrInterrupted)
		case <-ctx.Done():
			return ctx.Err()
		}
	case "stubborn":
		<-bl.release
		return nil
	}
	return fmt.Errorf("unknown mode %q", p.Mode)
}

// drainSetup returns a started runner with the blocker registered.
func drainSetup(t *testing.T, cfg runner.Config) (*runner.Runner, *testBundle, *blocker) {
	t.Helper()
	r, b := harness(t, cfg)
	bl := newBlocker()
	if err := r.Register(bl.spec()); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	return r, b, bl
}

// enqueueBlock enqueues a drain.block job and waits until its handler runs.
func enqueueBlock(t *testing.T, b *testBundle, bl *blocker, p blockPayload) string {
	t.Helper()
	payload, _ := json.Marshal(p)
	info, err := b.client.Enqueue(asynq.NewTask("drain.block", payload))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-bl.started:
		if id != info.ID {
			t.Fatalf("started %s, want %s", id, info.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("job %s did not start", info.ID)
	}
	return info.ID
}

// lastEvent returns the last log line with event ev.
func lastEvent(t *testing.T, b *testBundle, ev string) map[string]any {
	t.Helper()
	for _, l := range slices.Backward(b.logs.Events(ev)) {
		if l["event"] == ev {
			return l
		}
	}
	t.Fatalf("no %s log line", ev)
	return nil
}

func num(l map[string]any, k string) int { f, _ := l[k].(float64); return int(f) }

// assertRequeuedUnchanged checks that the task is back in Redis, waiting,
// with no attempt counted.
func assertRequeuedUnchanged(t *testing.T, b *testBundle, id string) {
	t.Helper()
	info := taskInfo(t, b, "default", id)
	if info.State != asynq.TaskStatePending && info.State != asynq.TaskStateRetry {
		t.Errorf("task %s is %v, want pending or retry", id, info.State)
	}
	if info.Retried != 0 {
		t.Errorf("task %s retried = %d, want 0: the drain counted an attempt", id, info.Retried)
	}
}

func TestDrainLetsInFlightJobsFinish(t *testing.T) {
	t.Parallel()
	r, b, bl := drainSetup(t, runner.Config{ShutdownTimeout: 5 * time.Second})
	ops := httptest.NewServer(r.Handler())
	t.Cleanup(ops.Close)
	id := enqueueBlock(t, b, bl, blockPayload{Mode: "sleep", MS: 400})

	done := make(chan error, 1)
	t0 := time.Now()
	go func() { done <- r.Shutdown(context.Background()) }()

	// Readiness flips at once; liveness stays up for the whole drain.
	waitFor(t, 100*time.Millisecond, "readyz 503", func() bool {
		code, body := get(t, ops.URL+"/readyz")
		return code == http.StatusServiceUnavailable && body == "draining\n"
	})
	t.Logf("readyz 503 after %v", time.Since(t0))
	for range 5 {
		if code, _ := get(t, ops.URL+"/healthz"); code != http.StatusOK {
			t.Fatalf("healthz = %d while draining, want 200", code)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if code, _ := get(t, ops.URL+"/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("healthz = %d after the drain, want 503", code)
	}
	d := lastEvent(t, b, "drain.done")
	if num(d, "finished") != 1 || num(d, "requeued") != 0 || d["clean"] != true {
		t.Errorf("drain.done = %v, want finished 1, requeued 0, clean", d)
	}
	if s := lastEvent(t, b, "drain.started"); num(s, "in_flight") != 1 || s["deadline"] == nil {
		t.Errorf("drain.started = %v, want in_flight 1 and a deadline", s)
	}
	if _, err := b.inspector.GetTaskInfo("default", id); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Errorf("task after a finished drain: %v, want done (not found)", err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestDrainSoftPhaseInterrupt(t *testing.T) {
	t.Parallel()
	r, b, bl := drainSetup(t, runner.Config{ShutdownTimeout: 10 * time.Second})
	id := enqueueBlock(t, b, bl, blockPayload{Mode: "interrupt"})

	t0 := time.Now()
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if el := time.Since(t0); el > 2*time.Second {
		t.Errorf("drain took %v: it waited past the interrupted job", el)
	}
	assertRequeuedUnchanged(t, b, id)
	if l := lastEvent(t, b, "job.deferred"); l["reason"] != "interrupted" {
		t.Errorf("job.deferred = %v, want reason interrupted", l)
	}
	if d := lastEvent(t, b, "drain.done"); num(d, "requeued") != 1 || num(d, "finished") != 0 {
		t.Errorf("drain.done = %v, want requeued 1", d)
	}
	if len(b.logs.Events("drain.hard")) != 0 {
		t.Error("an interrupted job led to a hard stop")
	}
}

func TestDrainHardPhaseCancelsWithErrShutdown(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	r, b, bl := drainSetup(t, runner.Config{ShutdownTimeout: timeout, HardStopGrace: 2 * time.Second})
	id := enqueueBlock(t, b, bl, blockPayload{Mode: "ctx"})

	t0 := time.Now()
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	el := time.Since(t0)
	if el < timeout || el > timeout+time.Second {
		t.Errorf("drain took %v, want about %v (soft phase, then a prompt return)", el, timeout)
	}
	if cause := <-bl.causes; !errors.Is(cause, job.ErrShutdown) {
		t.Errorf("context cause = %v, want ErrShutdown", cause)
	}
	assertRequeuedUnchanged(t, b, id)
	if l := lastEvent(t, b, "drain.hard"); l["cause"] != "deadline" {
		t.Errorf("drain.hard = %v, want cause deadline", l)
	}
	if l := lastEvent(t, b, "job.deferred"); l["reason"] != "shutdown" {
		t.Errorf("job.deferred = %v, want reason shutdown", l)
	}
	if d := lastEvent(t, b, "drain.done"); num(d, "requeued") != 1 || num(d, "abandoned") != 0 {
		t.Errorf("drain.done = %v, want requeued 1, abandoned 0", d)
	}
	assertMetric(t, r, "jobrunner_jobs_requeued_on_shutdown_total", func(m *dto.Metric) float64 { return m.GetCounter().GetValue() }, 1)
	assertMetric(t, r, "jobrunner_drain_duration_seconds", func(m *dto.Metric) float64 { return float64(m.GetHistogram().GetSampleCount()) }, 1)
}

func assertMetric(t *testing.T, r *runner.Runner, name string, val func(*dto.Metric) float64, want float64) {
	t.Helper()
	mfs, err := gatherer(t, r).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			if got := val(mf.GetMetric()[0]); got != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
			return
		}
	}
	t.Errorf("metric %s not found", name)
}

func TestShutdownWithDoneContextGoesHardAtOnce(t *testing.T) {
	t.Parallel()
	r, b, bl := drainSetup(t, runner.Config{ShutdownTimeout: 30 * time.Second})
	id := enqueueBlock(t, b, bl, blockPayload{Mode: "ctx"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	t0 := time.Now()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if el := time.Since(t0); el > time.Second {
		t.Errorf("drain with a done context took %v", el)
	}
	if l := lastEvent(t, b, "drain.hard"); l["cause"] != "requested" {
		t.Errorf("drain.hard = %v, want cause requested", l)
	}
	assertRequeuedUnchanged(t, b, id)
}

// TestDrainAbandonedHandler: a handler that ignores cancellation is requeued
// by asynq after the hard-phase grace, which is paid once, not twice, and
// the drain reports it.
func TestDrainAbandonedHandler(t *testing.T) {
	t.Parallel()
	const timeout, grace = 100 * time.Millisecond, time.Second
	r, b, bl := drainSetup(t, runner.Config{ShutdownTimeout: timeout, HardStopGrace: grace})
	id := enqueueBlock(t, b, bl, blockPayload{Mode: "stubborn"})
	t.Cleanup(bl.returned.Wait) // before goleak looks
	t.Cleanup(func() { close(bl.release) })

	t0 := time.Now()
	err := r.Shutdown(context.Background())
	el := time.Since(t0)
	var de *runner.DrainError
	if !errors.As(err, &de) || !slices.Equal(de.Abandoned, []string{id}) {
		t.Fatalf("Shutdown = %v, want a DrainError abandoning %s", err, id)
	}
	if el < timeout+grace || el > timeout+grace+700*time.Millisecond {
		t.Errorf("drain took %v, want timeout+grace (%v) plus a little, not the grace twice", el, timeout+grace)
	}
	// The job was marked as handed over (so that its next run cannot take
	// over the old handler's marker) and pushed back by asynq with its
	// attempt count unchanged; there is no second task to run it twice.
	info := taskInfo(t, b, "default", id)
	if info.State != asynq.TaskStatePending || info.Retried != 0 || info.MaxRetry != job.MaxRetryDefault || info.Headers["jobrunner-handed-over"] != "1" {
		t.Errorf("handed-over task: state %v retried %d max %d headers %v, want pending, 0, %d, jobrunner-handed-over=1",
			info.State, info.Retried, info.MaxRetry, info.Headers, job.MaxRetryDefault)
	}
	if tasks, _ := b.inspector.ListPendingTasks("default"); len(tasks) != 1 {
		t.Errorf("%d pending tasks, want the one handed over", len(tasks))
	}
	if d := lastEvent(t, b, "drain.done"); num(d, "abandoned") != 1 || num(d, "requeued") != 1 || d["clean"] != false {
		t.Errorf("drain.done = %v, want abandoned 1, requeued 1, not clean", d)
	}
}

func TestDrainFailsWhenRedisIsGone(t *testing.T) {
	t.Parallel()
	r, b, bl := drainSetup(t, runner.Config{ShutdownTimeout: 200 * time.Millisecond})
	enqueueBlock(t, b, bl, blockPayload{Mode: "ctx"})
	b.redis.Kill()
	err := r.Shutdown(context.Background())
	var de *runner.DrainError
	if !errors.As(err, &de) || len(de.AsynqErrors) == 0 {
		t.Fatalf("Shutdown = %v, want a DrainError with asynq's errors", err)
	}
	t.Logf("drain error: %v", err)
}

func TestCleanupCallbacksRunInReverseOrder(t *testing.T) {
	t.Parallel()
	r, b, _ := drainSetup(t, runner.Config{})
	var mu sync.Mutex
	var order []int
	note := func(i int) {
		mu.Lock()
		order = append(order, i)
		mu.Unlock()
	}
	r.OnShutdown(func(context.Context) error { note(0); return nil })
	r.OnShutdown(func(context.Context) error { note(1); return errors.New("flush failed") })
	r.OnShutdown(func(context.Context) error { note(2); panic("boom") })
	r.OnShutdown(func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("cleanup context has no deadline")
		}
		note(3)
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a cancelled Shutdown context does not cancel the cleanups
	if err := r.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v; cleanup errors must not fail it", err)
	}
	if !slices.Equal(order, []int{3, 2, 1, 0}) {
		t.Errorf("cleanup order = %v, want [3 2 1 0]", order)
	}
	if n := len(b.logs.Events("cleanup.failed")); n != 2 {
		t.Errorf("%d cleanup.failed lines, want 2 (error and panic)", n)
	}
}

func TestShutdownMisuse(t *testing.T) {
	t.Parallel()
	r, _ := harness(t, runner.Config{})
	if err := r.Shutdown(context.Background()); err == nil {
		t.Error("Shutdown before Start succeeded")
	}
	start(t, r)
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Shutdown(context.Background()); err == nil {
		t.Error("a second Shutdown succeeded")
	}
}

// TestIdleDrainIsFast measures Shutdown of an idle worker; the target is
// well under 200ms from the signal to the exit.
func TestIdleDrainIsFast(t *testing.T) {
	t.Parallel()
	r, _ := harness(t, runner.Config{PollInterval: runner.PollIntervalDefault})
	start(t, r)
	time.Sleep(200 * time.Millisecond) // let the loops settle into polling
	t0 := time.Now()
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	el := time.Since(t0)
	t.Logf("idle drain: %v", el)
	if el > time.Second {
		t.Errorf("idle drain took %v", el)
	}
}

// BenchmarkIdleDrain reports drain-ms/op: Shutdown of an idle worker that
// polls at the default interval (go test -run '^$' -bench IdleDrain ./runner).
func BenchmarkIdleDrain(b *testing.B) {
	rdb := redistest.Start(b).Client()
	var total time.Duration
	for b.Loop() {
		r, err := runner.New(runner.Config{Redis: rdb})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		t0 := time.Now()
		if err := r.Shutdown(context.Background()); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "drain-ms/op")
}

// TestAbandonedHandlerIsNeverRunTwiceAtOnce: a handler that ignores the
// drain's cancellation keeps its in-flight marker for as long as it runs;
// the next run of its job, which another worker picks up, is deferred until
// the old handler returns, then completes without running again.
func TestAbandonedHandlerIsNeverRunTwiceAtOnce(t *testing.T) {
	t.Parallel()
	r, b, bl := drainSetup(t, runner.Config{ShutdownTimeout: 100 * time.Millisecond, HardStopGrace: 200 * time.Millisecond})
	id := enqueueBlock(t, b, bl, blockPayload{Mode: "stubborn", Key: "once"})
	t.Cleanup(bl.returned.Wait)
	var de *runner.DrainError
	if err := r.Shutdown(context.Background()); !errors.As(err, &de) {
		t.Fatalf("Shutdown = %v, want a DrainError", err)
	}

	// A second worker on the same Redis picks up the handed-over task.
	r2, err := runner.New(runner.Config{Redis: b.rdb, Logger: r2Log(b), PollInterval: 10 * time.Millisecond,
		DelayedCheckInterval: 50 * time.Millisecond, DuplicateDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	bl2 := newBlocker()
	if err := r2.Register(bl2.spec()); err != nil {
		t.Fatal(err)
	}
	start(t, r2)
	waitFor(t, 5*time.Second, "next run deferred", func() bool {
		for _, l := range b.logs.Events("job.deferred") {
			if l["task_id"] == id && l["reason"] == "duplicate_in_flight" {
				return true
			}
		}
		return false
	})
	select {
	case got := <-bl2.started:
		t.Fatalf("%s ran again while the abandoned handler still runs", got)
	case <-time.After(300 * time.Millisecond):
	}
	close(bl.release) // the old handler finally returns, successfully
	waitFor(t, 10*time.Second, "next run settled", func() bool {
		for _, l := range b.logs.Events("job.skipped") {
			if l["task_id"] == id && l["reason"] == "duplicate_done" {
				return true
			}
		}
		return false
	})
	select {
	case got := <-bl2.started:
		t.Fatalf("%s ran again after the job was done", got)
	default:
	}
}

func r2Log(b *testBundle) *zerolog.Logger {
	l := zerolog.New(b.logs)
	return &l
}
