package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// TestPanicReleasesLockAndMarker drives a panicking handler from outside: a
// demo.sleep with a lock and a dedupe key that panics on every attempt must
// fail each attempt (retried, then archived after MaxRetry+1 attempts), and
// release its lock and marker each time, so a job on the same lock key runs
// right after each attempt instead of waiting for a drain.
func TestPanicReleasesLockAndMarker(t *testing.T) {
	srv := redistest.Start(t)
	w := workertest.Start(t, srv, []string{"WORKER_RETRY_SCHEDULE=short", "WORKER_CONCURRENCY=4"})
	rdb := srv.Client()
	client := asynq.NewClientFromRedisClient(rdb)
	inspector := asynq.NewInspectorFromRedisClient(rdb)

	_, err := client.Enqueue(asynq.NewTask("demo.sleep", []byte(`{"fail":"panic","lock":"shared","dedupe":"once"}`)),
		asynq.MaxRetry(2), asynq.TaskID("panics"))
	if err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 3; attempt++ {
		l, ok := w.WaitFor(20*time.Second, func(l workertest.Line) bool {
			return l.Str("event") == "job.failed" && l.Str("task_id") == "panics" && l.Int("attempt") == attempt
		})
		if !ok {
			t.Fatalf("attempt %d never failed", attempt)
		}
		if l.Str("reason") != "panic" || l["final"] != (attempt == 3) {
			t.Fatalf("attempt %d: %v", attempt, l)
		}
		// A job on the same lock key runs at once: the lock was released.
		id := "next-" + string(rune('0'+attempt))
		enqueued := time.Now()
		if _, err := client.Enqueue(asynq.NewTask("demo.sleep", []byte(`{"ms":1,"lock":"shared"}`)), asynq.TaskID(id)); err != nil {
			t.Fatal(err)
		}
		if _, ok := w.WaitFor(5*time.Second, func(l workertest.Line) bool {
			return l.Str("task_id") == id && (l.Str("event") == "job.done" || l.Str("event") == "job.deferred")
		}); !ok {
			t.Fatalf("job %s on the same lock never ended", id)
		}
		for _, l := range w.Lines("job.deferred") {
			if l.Str("task_id") == id {
				t.Fatalf("job %s deferred after attempt %d: %v", id, attempt, l)
			}
		}
		if d := time.Since(enqueued); d > 3*time.Second {
			t.Fatalf("job %s took %v to run after attempt %d", id, d, attempt)
		}
	}
	var info *asynq.TaskInfo
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err = inspector.GetTaskInfo("default", "panics")
		if err == nil && info.State == asynq.TaskStateArchived || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil || info.State != asynq.TaskStateArchived || info.Retried != 2 || !strings.Contains(info.LastErr, "panic") {
		t.Fatalf("task after 3 attempts: %+v, %v", info, err)
	}
	if n := len(w.Lines("job.failed")); n != 3 {
		t.Fatalf("%d failed attempts, want 3", n)
	}
	// Nothing of the panicking job is left behind: no marker, no held lock
	// (a released lock key keeps only its fence, an integer).
	keys, err := rdb.Keys(context.Background(), "jobrunner:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		switch {
		case strings.HasSuffix(k, ":inflight"):
			t.Errorf("left behind: %s", k)
		case strings.HasSuffix(k, ":lock"):
			if v := rdb.Get(context.Background(), k).Val(); !releasedLock.MatchString(v) {
				t.Errorf("left behind: %s = %q, want a released lock", k, v)
			}
		}
	}
}

// releasedLock matches the value of a released lock key: its fence alone.
var releasedLock = regexp.MustCompile(`^[0-9]+$`)
