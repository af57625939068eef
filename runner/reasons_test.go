package runner_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

// TestDrainDuringLockWaitIsNotLockBusy: a job waiting for a busy lock when
// the drain's hard phase cancels it is put back for the shutdown, not
// reported as lock_busy (which would send an operator to look for a stuck
// lock holder) nor counted as contended.
func TestDrainDuringLockWaitIsNotLockBusy(t *testing.T) {
	t.Parallel()
	r, b := harness(t, runner.Config{ShutdownTimeout: 100 * time.Millisecond, HardStopGrace: time.Second})
	def := &job.Definition[greet]{
		Type: "wait.lock",
		Lock: func(greet) job.Lock { return job.Lock{Key: "held", Wait: time.Minute} },
		Handle: func(context.Context, greet) error {
			t.Error("the handler ran without the lock")
			return nil
		},
	}
	if err := r.Register(def); err != nil {
		t.Fatal(err)
	}
	store := lockcore.NewRedisStore(b.rdb, lockcore.RedisConfig{})
	held, err := store.Acquire(context.Background(), "held", time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(context.Background())
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	info, err := def.Enqueue(context.Background(), b.client, greet{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // admitted, waiting for the lock
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	var reasons []string
	for _, l := range b.logs.Events("job.") {
		if l["task_id"] == info.ID && l["event"] != "job.started" {
			reasons = append(reasons, l["event"].(string)+" "+str(l["reason"]))
		}
	}
	if len(reasons) != 1 || reasons[0] != "job.deferred shutdown" {
		t.Errorf("outcome lines = %v, want one job.deferred shutdown", reasons)
	}
	if m := metricsBody(t, r); grepLines(m, "jobrunner_lock_contended_total 0") == "" {
		t.Errorf("a drain's cancellation counted as lock contention:\n%s", grepLines(m, "jobrunner_lock_contended_total"))
	}
	if task, err := b.inspector.GetTaskInfo("default", info.ID); err != nil || task.Retried != 0 {
		t.Errorf("task after the drain: %+v %v, want it waiting with no attempt counted", task, err)
	}
}

// TestWriteResultFromGoroutines: a handler may call job.WriteResult from
// goroutines of its own (go test -race checks it); the last write is the
// job's result, in asynq and in the dedupe record.
func TestWriteResultFromGoroutines(t *testing.T) {
	t.Parallel()
	r, b := harness(t, runner.Config{})
	def := &job.Definition[greet]{
		Type:      "write.many",
		DedupeKey: func(p greet) string { return p.Name },
		Handle: func(ctx context.Context, _ greet) error {
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() { _ = job.WriteResult(ctx, []byte(strconv.Itoa(i))) })
			}
			wg.Wait()
			return job.WriteResult(ctx, []byte("last"))
		},
	}
	if err := r.Register(def); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	info, err := def.Enqueue(context.Background(), b.client, greet{Name: "w"}, asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "done", func() bool {
		ti, err := b.inspector.GetTaskInfo("default", info.ID)
		return err == nil && ti.State == asynq.TaskStateCompleted
	})
	ti, _ := b.inspector.GetTaskInfo("default", info.ID)
	if string(ti.Result) != "last" {
		t.Errorf("result %q, want last", ti.Result)
	}
	// A duplicate is skipped with the recorded result.
	dup, err := def.Enqueue(context.Background(), b.client, greet{Name: "w"}, asynq.Retention(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "duplicate done", func() bool {
		ti, err := b.inspector.GetTaskInfo("default", dup.ID)
		return err == nil && ti.State == asynq.TaskStateCompleted
	})
	if ti, _ := b.inspector.GetTaskInfo("default", dup.ID); string(ti.Result) != "last" {
		t.Errorf("duplicate's result %q, want the recorded last", ti.Result)
	}
}

func str(v any) string { s, _ := v.(string); return s }
