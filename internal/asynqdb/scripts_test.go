package asynqdb_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// TestVersion fails when go.mod moves asynq to a version this package was
// not checked against: its layout is asynq's private business and may
// change with any release. Check every file here (and the tests' asynq
// calls) against the new version's internal/base and internal/rdb, then
// update Version.
func TestVersion(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	mod, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(mod)) {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "github.com/hibiken/asynq" {
			if f[1] != asynqdb.Version {
				t.Fatalf("go.mod requires asynq %s; internal/asynqdb matches asynq %s's private Redis layout: "+
					"check it against the new version before updating asynqdb.Version", f[1], asynqdb.Version)
			}
			return
		}
	}
	t.Fatal("go.mod does not require github.com/hibiken/asynq")
}

// TestWakeRunsAWaitingTask: a scheduled task woken runs on asynq's own
// Server at once; a completed task kept for its retention is left alone.
func TestWakeRunsAWaitingTask(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	ctx := context.Background()
	if _, err := client.Enqueue(asynq.NewTask("t", []byte("later")), asynq.TaskID("later"), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ran := make(chan string, 4)
	s := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: 1, TaskCheckInterval: 20 * time.Millisecond, LogLevel: asynq.FatalLevel})
	if err := s.Start(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		ran <- id
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	moved, err := asynqdb.Wake(ctx, rdb, "default", "later", time.Now())
	if err != nil || !moved {
		t.Fatalf("Wake = %v, %v; want moved", moved, err)
	}
	select {
	case id := <-ran:
		if id != "later" {
			t.Fatalf("ran %s", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the woken task did not run")
	}
	if _, err := client.Enqueue(asynq.NewTask("t", []byte("kept")), asynq.TaskID("kept"), asynq.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	<-ran
	waitState(t, insp, "kept", asynq.TaskStateCompleted)
	if moved, err := asynqdb.Wake(ctx, rdb, "default", "kept", time.Now()); err != nil || moved {
		t.Errorf("Wake of a completed task = %v, %v; want it left alone", moved, err)
	}
	select {
	case id := <-ran:
		t.Errorf("%s ran again", id)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestReleaseUniqueHandsTheLockOver: the uniqueness lock a task holds is
// freed for its remaining time; a copy that takes it with asynq's Unique
// option is honoured by asynq's Client.
func TestReleaseUniqueHandsTheLockOver(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	client := asynq.NewClientFromRedisClient(rdb)
	ctx := context.Background()
	payload := []byte(`{"a":1}`)
	if _, err := client.Enqueue(asynq.NewTask("u", payload), asynq.TaskID("orig"), asynq.Unique(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(asynq.NewTask("u", payload), asynq.Unique(time.Hour)); !errors.Is(err, asynq.ErrDuplicateTask) {
		t.Fatalf("duplicate before the release: %v, want ErrDuplicateTask", err)
	}
	if left, err := asynqdb.ReleaseUnique(ctx, rdb, "default", "u", payload, "other"); err != nil || left != 0 {
		t.Errorf("ReleaseUnique by a task that does not hold the lock = %v, %v; want 0", left, err)
	}
	left, err := asynqdb.ReleaseUnique(ctx, rdb, "default", "u", payload, "orig")
	if err != nil || left < 59*time.Minute || left > time.Hour {
		t.Fatalf("ReleaseUnique = %v, %v; want about an hour left", left, err)
	}
	if _, err := client.Enqueue(asynq.NewTask("u", payload), asynq.TaskID("copy"), asynq.Unique(left.Round(time.Second))); err != nil {
		t.Fatalf("the copy could not take the freed lock: %v", err)
	}
	if _, err := client.Enqueue(asynq.NewTask("u", payload), asynq.Unique(time.Hour)); !errors.Is(err, asynq.ErrDuplicateTask) {
		t.Fatalf("duplicate of the copy: %v, want ErrDuplicateTask", err)
	}
}

func waitState(t *testing.T, insp *asynq.Inspector, id string, want asynq.TaskState) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, err := insp.GetTaskInfo("default", id)
		if err == nil && info.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: %v %v, want %v", id, info, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
