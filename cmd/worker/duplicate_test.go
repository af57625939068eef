package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// TestDuplicateFollowsTheOriginalClosely: a duplicate deferred while the
// original runs comes back soon after the original ends (its deferrals
// start short and back off), instead of a fixed five to seven seconds.
func TestDuplicateFollowsTheOriginalClosely(t *testing.T) {
	srv := redistest.Start(t)
	w := workertest.Start(t, srv, []string{"WORKER_CONCURRENCY=4"})
	client := asynq.NewClientFromRedisClient(srv.Client())
	for _, id := range []string{"original", "duplicate"} {
		if _, err := client.Enqueue(asynq.NewTask("demo.sleep", []byte(`{"ms":400,"dedupe":"once"}`)), asynq.TaskID(id)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Either may be admitted first; the other is the duplicate.
	first, ok := w.WaitFor(10*time.Second, func(l workertest.Line) bool { return l.Str("event") == "job.done" })
	if !ok {
		t.Fatal("neither job finished")
	}
	done := time.Now()
	other := "duplicate"
	if first.Str("task_id") == "duplicate" {
		other = "original"
	}
	l, ok := w.WaitFor(10*time.Second, func(l workertest.Line) bool {
		return l.Str("event") == "job.skipped" && l.Str("task_id") == other
	})
	if !ok {
		t.Fatal("the duplicate was never skipped")
	}
	t.Logf("duplicate skipped %v after the original ended", time.Since(done))
	// The delayed-task check runs every second: one second of slack.
	if after := time.Since(done); after > 2500*time.Millisecond {
		t.Fatalf("the duplicate was skipped %v after the original ended, want about a second", after)
	}
	if l.Str("reason") != "duplicate_done" {
		t.Fatalf("skipped line = %v", l)
	}
}

// TestAbandonedJobRunsSoonAfterExit: a handler that ignores cancellation is
// abandoned by its worker's drain, which hands its task over; as the
// process exits, its in-flight marker is handed over to expiry, so the next
// run of the job starts within seconds on another worker (not beside the
// abandoned handler, and not after the marker's 300s TTL).
func TestAbandonedJobRunsSoonAfterExit(t *testing.T) {
	srv := redistest.Start(t)
	client := asynq.NewClientFromRedisClient(srv.Client())
	a := workertest.Start(t, srv, []string{"WORKER_SHUTDOWN_TIMEOUT=1s", "LOG_LEVEL=debug"})
	info, err := client.Enqueue(asynq.NewTask("demo.sleep", []byte(`{"ms":6000,"ignore_cancel":true,"dedupe":"stub"}`)))
	if err != nil {
		t.Fatal(err)
	}
	a.WaitEvent("job.started", 10*time.Second)
	b := workertest.Start(t, srv, []string{"LOG_LEVEL=debug", "WORKER_POLL_INTERVAL=20ms"})
	a.Signal(syscall.SIGTERM)
	if code := a.Wait(20 * time.Second); code != 1 {
		t.Fatalf("first worker exit %d, want 1 (a handler ignored cancellation)", code)
	}
	exited := time.Now()
	// The next run's handler sleeps 6s too: its run began 6s before its end.
	l, ok := b.WaitFor(30*time.Second, func(l workertest.Line) bool {
		return l.Str("task_id") == info.ID && (l.Str("event") == "job.done" || l.Str("event") == "job.skipped")
	})
	if !ok || l.Str("event") != "job.done" {
		t.Fatalf("the job never ran again (%v); second worker:\n%s", l, b.Raw())
	}
	began := time.Now().Add(-6 * time.Second)
	t.Logf("the next run's handler began %v after the first worker exited", began.Sub(exited))
	if began.Before(exited) {
		t.Fatalf("the job ran beside the abandoned handler: began %v before the first worker exited", exited.Sub(began))
	}
	if after := began.Sub(exited); after > 4*time.Second {
		t.Fatalf("the next run began %v after the first worker exited, want within a few seconds", after)
	}
	if len(a.Lines("drain.expired")) != 1 {
		t.Errorf("no drain.expired line from the first worker")
	}
}
