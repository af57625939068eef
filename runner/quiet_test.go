package runner_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

// TestQuietStartsNothingEnqueuedAfter: once Quiet returns, asynq's fetch in
// progress has ended, so no job enqueued afterwards starts on this worker;
// they wait in the queue for another.
func TestQuietStartsNothingEnqueuedAfter(t *testing.T) {
	r, b := harness(t, runner.Config{})
	var ran atomic.Int32
	if err := r.Register(&job.Definition[greet]{Type: "quiet.job", Handle: func(context.Context, greet) error {
		ran.Add(1)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	r.Quiet()
	const n = 5
	for range n {
		if _, err := b.client.Enqueue(asynq.NewTask("quiet.job", []byte(`{"name":"a"}`))); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1500 * time.Millisecond) // more than asynq's idle fetch sleep (1s)
	if got := ran.Load(); got != 0 {
		t.Fatalf("%d jobs enqueued after Quiet returned ran on the quiet worker", got)
	}
	info, err := b.inspector.GetQueueInfo("default")
	if err != nil {
		t.Fatal(err)
	}
	if info.Pending != n {
		t.Fatalf("%d pending, want the %d jobs enqueued after Quiet", info.Pending, n)
	}
}
