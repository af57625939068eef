package asynqdb_test

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// TestProgressLivesWithTheTask: the progress field reads back, leaves
// asynq's Inspector reading the task as before, goes when asynq deletes the
// task, and is never written to a task that does not exist.
func TestProgressLivesWithTheTask(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	if _, err := asynq.NewClientFromRedisClient(rdb).Enqueue(asynq.NewTask("t", []byte(`{}`), asynq.TaskID("p1"), asynq.ProcessIn(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := asynqdb.Progress(ctx, rdb, "default", "p1"); ok || err != nil {
		t.Fatalf("Progress before any = ok %v, %v", ok, err)
	}
	if err := asynqdb.SetProgress(ctx, rdb, "default", "p1", 7, 15); err != nil {
		t.Fatal(err)
	}
	done, total, ok, err := asynqdb.Progress(ctx, rdb, "default", "p1")
	if err != nil || !ok || done != 7 || total != 15 {
		t.Fatalf("Progress = %d/%d ok %v, %v; want 7/15", done, total, ok, err)
	}
	if info, err := insp.GetTaskInfo("default", "p1"); err != nil || info.State != asynq.TaskStateScheduled {
		t.Fatalf("Inspector after SetProgress: %+v, %v", info, err)
	}
	if err := insp.DeleteTask("default", "p1"); err != nil {
		t.Fatal(err)
	}
	if err := asynqdb.SetProgress(ctx, rdb, "default", "p1", 8, 15); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Exists(ctx, asynqdb.TaskKey("default", "p1")).Result(); err != nil || n != 0 {
		t.Fatalf("a deleted task's hash exists (%d, %v) after SetProgress: a stray key without a TTL", n, err)
	}
}
