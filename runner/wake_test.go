package runner

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// TestWakeMovesOnlyWaitingTasks: wake runs a task waiting in the retry or
// scheduled set now, and never touches a completed one (asynq's RunTask
// would run it again).
func TestWakeMovesOnlyWaitingTasks(t *testing.T) {
	rdb := redistest.Start(t).Client()
	r, err := New(Config{Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	client, inspector := asynq.NewClientFromRedisClient(rdb), asynq.NewInspectorFromRedisClient(rdb)
	ctx := context.Background()
	if _, err := client.Enqueue(asynq.NewTask("x", nil), asynq.TaskID("later"), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !r.wake(ctx, "default", "later") {
		t.Fatal("a scheduled task was not woken")
	}
	if info, _ := inspector.GetTaskInfo("default", "later"); info.State != asynq.TaskStatePending {
		t.Fatalf("woken task is %v", info.State)
	}
	if r.wake(ctx, "default", "later") || r.wake(ctx, "default", "missing") {
		t.Fatal("woke a pending or missing task")
	}
	// A completed task, kept for its retention, stays completed.
	if _, err := client.Enqueue(asynq.NewTask("y", nil), asynq.TaskID("done"), asynq.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{Queues: map[string]int{"default": 1}, TaskCheckInterval: 10 * time.Millisecond, LogLevel: asynq.FatalLevel})
	mux := asynq.NewServeMux()
	mux.HandleFunc("y", func(context.Context, *asynq.Task) error { return nil })
	mux.HandleFunc("x", func(context.Context, *asynq.Task) error { return nil })
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := inspector.GetTaskInfo("default", "done")
		if err == nil && info.State == asynq.TaskStateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never completed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r.wake(ctx, "default", "done") {
		t.Fatal("woke a completed task")
	}
	if info, _ := inspector.GetTaskInfo("default", "done"); info.State != asynq.TaskStateCompleted {
		t.Fatalf("completed task is now %v", info.State)
	}
}
