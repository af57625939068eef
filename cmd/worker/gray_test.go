package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
	"github.com/jobrunner/jobrunner/runner"
)

// Gray failures: a Redis that hangs instead of dying (SIGSTOP: the kernel
// still accepts connections, nothing answers), tried through the worker
// binary as an operator meets them.

// TestSignalWhileConnecting: a worker still connecting to a Redis that does
// not answer (one server, Sentinel or cluster, every process stopped) exits
// within a second of SIGTERM or SIGINT, with status 0 and a
// worker.interrupted line: nothing had started.
func TestSignalWhileConnecting(t *testing.T) {
	for _, topo := range redistest.Topologies() {
		t.Run(topo.Name, func(t *testing.T) {
			t.Parallel()
			env := topo.Start(t)
			env.PauseAll()
			for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
				w := workertest.StartNoWait(t, nil, []string{"REDIS_URL=" + env.URL})
				// The line comes after the signal handler is installed (a
				// loaded machine can take a while to get there), then the
				// start's wait begins.
				for deadline := time.Now().Add(10 * time.Second); len(w.Lines("redis.connecting")) == 0 && !w.Exited() && time.Now().Before(deadline); {
					time.Sleep(20 * time.Millisecond)
				}
				time.Sleep(300 * time.Millisecond) // well into the start's wait
				if w.Exited() {
					t.Fatalf("worker exited before the signal:\n%s", w.Raw())
				}
				w.Signal(sig)
				signalled := time.Now()
				code := w.Wait(5 * time.Second)
				took := time.Since(signalled)
				t.Logf("%v: exit %d %v after the signal", sig, code, took.Round(time.Millisecond))
				if code != 0 || took > time.Second {
					t.Errorf("%v while connecting: exit %d after %v, want 0 within 1s", sig, code, took)
				}
				if len(w.Lines("worker.interrupted")) != 1 {
					t.Errorf("no worker.interrupted line:\n%s", w.Raw())
				}
			}
		})
	}
}

// TestStartGivesUpOnAHungRedis: without a signal, the start's wait is
// bounded: runner.StartTimeout, then exit 1 saying Redis did not answer.
func TestStartGivesUpOnAHungRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	srv.Pause()
	defer srv.Resume()
	started := time.Now()
	w := workertest.StartNoWait(t, srv, nil)
	code := w.Wait(runner.StartTimeout + 10*time.Second)
	took := time.Since(started)
	t.Logf("exit %d after %v", code, took.Round(time.Millisecond))
	if code != 1 || took > runner.StartTimeout+3*time.Second {
		t.Fatalf("exit %d after %v, want 1 within about %v", code, took, runner.StartTimeout)
	}
	l := w.Lines("worker.failed")
	if len(l) != 1 || !strings.Contains(l[0].Str("error"), fmt.Sprintf("no answer within %v", runner.StartTimeout)) {
		t.Errorf("worker.failed = %v, want one line saying Redis gave no answer within %v", l, runner.StartTimeout)
	}
}

// TestDrainEndsOnTimeWhenRedisHangs: Redis stops answering while jobs with
// dedupe keys and locks run, and stays stopped through the whole drain.
// The worker still exits within runner.Config.MaxDrain of SIGTERM (before a
// Kubernetes SIGKILL), reporting the jobs whose outcomes it could not write
// (exit 1). Once Redis answers again, a new worker runs each of those jobs
// exactly once (their handlers were cut short before they finished), and
// the jobs that had finished before the hang do not run again.
func TestDrainEndsOnTimeWhenRedisHangs(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client()
	client := asynq.NewClientFromRedisClient(rdb)
	const shutdown = 2 * time.Second
	env := []string{"LOG_LEVEL=debug", "WORKER_CONCURRENCY=8", "WORKER_SHUTDOWN_TIMEOUT=" + shutdown.String(),
		"WORKER_RETRY_SCHEDULE=short", "WORKER_POLL_INTERVAL=20ms"}
	a := workertest.Start(t, srv, env)
	var quick, long []string
	for i := range 4 {
		info, err := client.Enqueue(asynq.NewTask("demo.sleep", fmt.Appendf(nil, `{"ms":1,"dedupe":"quick%d","lock":"ql%d"}`, i, i)))
		if err != nil {
			t.Fatal(err)
		}
		quick = append(quick, info.ID)
	}
	waitDone(t, quick, 10*time.Second, a)
	for i := range 4 {
		info, err := client.Enqueue(asynq.NewTask("demo.sleep", fmt.Appendf(nil, `{"ms":8000,"dedupe":"long%d","lock":"ll%d"}`, i, i)))
		if err != nil {
			t.Fatal(err)
		}
		long = append(long, info.ID)
	}
	waitStartedIDs(t, a, long, 10*time.Second)
	time.Sleep(300 * time.Millisecond) // admitted: markers and locks held

	srv.Pause()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	a.Signal(syscall.SIGTERM)
	signalled := time.Now()
	maxDrain := runner.Config{ShutdownTimeout: shutdown}.MaxDrain()
	code := a.Wait(maxDrain + 30*time.Second)
	took := time.Since(signalled)
	t.Logf("drain with Redis stopped: exit %d after %v (MaxDrain %v)", code, took.Round(time.Millisecond), maxDrain)
	if took > maxDrain {
		t.Errorf("the drain took %v with Redis stopped, more than MaxDrain %v", took, maxDrain)
	}
	if code != 1 {
		t.Errorf("exit %d, want 1: the drain could not write its jobs' outcomes", code)
	}
	if l := a.Lines("drain.done"); len(l) != 1 || l[0].Int("unsettled") == 0 {
		t.Errorf("drain.done = %v, want unsettled jobs named", l)
	}

	srv.Resume()
	resumed = true
	// The stopped worker's tasks stay active until asynq's lease recovery,
	// 30s after their last lease extension; expire the leases now instead
	// of waiting, as the time would.
	expireLeases(t, srv, "default")
	b := workertest.Start(t, srv, env)
	waitDone(t, long, 60*time.Second, a, b)
	time.Sleep(500 * time.Millisecond)
	requireDone(t, append(quick, long...), a, b)
	b.Signal(syscall.SIGTERM)
	if code := b.Wait(20 * time.Second); code != 0 {
		t.Errorf("second worker exit %d", code)
	}
}

// TestHandOverSurvivesACrash: a handler that ignores cancellation is handed
// over by its worker's drain, and the worker is killed (SIGKILL) right
// after: the job, which has neither a dedupe key nor a lock, still runs to
// completion exactly once on another worker. (A drain that copied the task
// and then died before revoking the original would run it twice: the copy,
// and the original through asynq's lease recovery.)
func TestHandOverSurvivesACrash(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := asynq.NewClientFromRedisClient(srv.Client())
	env := []string{"LOG_LEVEL=debug", "WORKER_SHUTDOWN_TIMEOUT=200ms", "WORKER_RETRY_SCHEDULE=short", "WORKER_POLL_INTERVAL=20ms"}
	a := workertest.Start(t, srv, env)
	info, err := client.Enqueue(asynq.NewTask("demo.sleep", []byte(`{"ms":5000,"ignore_cancel":true}`)))
	if err != nil {
		t.Fatal(err)
	}
	waitStartedIDs(t, a, []string{info.ID}, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	a.Signal(syscall.SIGTERM)
	a.WaitEvent("drain.abandoned", 10*time.Second)
	a.Kill() // in the hand-over, before asynq's shutdown requeues the task
	a.Wait(5 * time.Second)
	expireLeases(t, srv, "default")
	b := workertest.Start(t, srv, env)
	waitDone(t, []string{info.ID}, 30*time.Second, b)
	time.Sleep(2 * time.Second) // anything that would run it again has time to
	requireDone(t, []string{info.ID}, a, b)
	q, err := asynq.NewInspectorFromRedisClient(srv.Client()).GetQueueInfo("default")
	if err != nil || q.Size != 0 {
		t.Errorf("queue after the job completed: %+v (%v), want empty", q, err)
	}
}

// expireLeases makes every active task of queue look abandoned to asynq's
// lease recovery, which runs when a worker starts: it is what 30 seconds
// without a heartbeat would do.
func expireLeases(t *testing.T, srv *redistest.Server, queue string) {
	t.Helper()
	rdb := srv.Client()
	ctx := context.Background()
	key := asynqdb.LeaseKey(queue)
	ids, err := rdb.ZRange(ctx, key, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	old := float64(time.Now().Add(-time.Minute).Unix())
	for _, id := range ids {
		if err := rdb.ZAdd(ctx, key, redis.Z{Score: old, Member: id}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// waitStartedIDs waits until w has logged job.started for each of ids.
func waitStartedIDs(t *testing.T, w *workertest.Worker, ids []string, timeout time.Duration) {
	t.Helper()
	seen := map[string]bool{}
	if _, ok := w.WaitFor(timeout, func(l workertest.Line) bool {
		if l.Str("event") == "job.started" {
			seen[l.Str("task_id")] = true
		}
		for _, id := range ids {
			if !seen[id] {
				return false
			}
		}
		return true
	}); !ok {
		t.Fatalf("jobs %v did not all start within %v:\n%s", ids, timeout, w.Raw())
	}
}

// waitDone waits until each of ids has ended job.done or job.skipped on one
// of ws.
func waitDone(t *testing.T, ids []string, timeout time.Duration, ws ...*workertest.Worker) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ended := map[string]bool{}
		for _, w := range ws {
			for _, ev := range []string{"job.done", "job.skipped"} {
				for _, l := range w.Lines(ev) {
					ended[l.Str("task_id")] = true
				}
			}
		}
		missing := 0
		for _, id := range ids {
			if !ended[id] {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs not done within %v", missing, len(ids), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// requireDone checks that the handler of each of ids completed exactly once
// across ws (job.done), however many other runs ended skipped.
func requireDone(t *testing.T, ids []string, ws ...*workertest.Worker) {
	t.Helper()
	n := map[string]int{}
	for _, w := range ws {
		for _, l := range w.Lines("job.done") {
			n[l.Str("task_id")]++
		}
	}
	for _, id := range ids {
		if n[id] != 1 {
			t.Errorf("job %s completed %d times, want exactly once", id, n[id])
		}
	}
}

// TestRefusedWritesBackOff: Redis at its maxmemory with noeviction (the
// policy asynq requires) refuses every write while 300 jobs wait. The idle
// worker backs off instead of sending thousands of failing commands a
// second, reports not ready saying why, logs one clear line with advice and
// counts the refusals; once Redis takes writes again, all 300 jobs run
// exactly once within seconds and the worker is ready again.
func TestRefusedWritesBackOff(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := srv.Client()
	ctx := context.Background()
	client := asynq.NewClientFromRedisClient(admin)
	var ids []string
	for i := range 300 {
		info, err := client.Enqueue(asynq.NewTask("demo.sleep", fmt.Appendf(nil, `{"ms":1,"dedupe":"r%d"}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, info.ID)
	}
	if err := admin.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil { // below what is used: every write is refused
		t.Fatal(err)
	}
	w := workertest.Start(t, srv, []string{"WORKER_CONCURRENCY=10"})
	time.Sleep(time.Second) // let it settle into its loop
	before, t0 := commandCount(t, admin), time.Now()
	time.Sleep(2 * time.Second)
	rate := float64(commandCount(t, admin)-before) / time.Since(t0).Seconds()
	t.Logf("commands per second while Redis refuses writes: %.0f", rate)
	if rate > 300 {
		t.Errorf("%.0f commands a second against a Redis that refuses writes, want a backed-off worker (< 300)", rate)
	}
	code, body := w.Get("/readyz")
	if code != 503 || !strings.Contains(body, "refuses writes") || !strings.Contains(body, "OOM") {
		t.Errorf("readyz = %d %q, want 503 saying Redis refuses writes (OOM)", code, body)
	}
	if l := w.Lines("redis.writes_refused"); len(l) != 1 || !strings.Contains(l[0].Str("advice"), "maxmemory") {
		t.Errorf("redis.writes_refused lines = %v, want one with advice naming maxmemory", l)
	}
	if _, m := w.Get("/metrics"); !strings.Contains(m, `jobrunner_redis_writes_refused_total{reply="OOM"}`) ||
		strings.Contains(m, `jobrunner_redis_writes_refused_total{reply="OOM"} 0`) {
		t.Errorf("jobrunner_redis_writes_refused_total{reply=\"OOM\"} did not move")
	}
	if len(w.Lines("job.done")) != 0 {
		t.Fatalf("a job ran while Redis refused writes")
	}

	if err := admin.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	waitDone(t, ids, 10*time.Second, w)
	t.Logf("all 300 jobs done %v after Redis took writes again", time.Since(freed).Round(time.Millisecond))
	if took := time.Since(freed); took > 4*time.Second {
		t.Errorf("the jobs took %v to run once Redis took writes again, want a few seconds at most", took)
	}
	requireDone(t, ids, w)
	deadline := time.Now().Add(3 * time.Second)
	for code, _ := w.Get("/readyz"); code != 200; code, _ = w.Get("/readyz") {
		if time.Now().After(deadline) {
			t.Fatalf("readyz still %d after Redis took writes again", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.WaitEvent("redis.writes_accepted", 2*time.Second)
}

// commandCount returns how many commands the server was sent: run, failed
// or rejected (a refused write is not counted in "calls").
func commandCount(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || name == "cmdstat_info" || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for field := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(field, "=")
			if k == "calls" || k == "rejected_calls" {
				x, _ := strconv.ParseInt(v, 10, 64)
				n += x
			}
		}
	}
	return n
}
