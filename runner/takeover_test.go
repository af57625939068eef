package runner

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
)

// TestTakeoverFencesOutTheReplacedAttempt runs two attempts of one task ID
// at once, as when asynq redelivers a task whose handler still runs (lease
// expiry under a long pause, or the shutdown fallback): the second takes
// the in-flight marker over, the first loses it at its next renewal (its
// context is cancelled with ErrLockLost and it is deferred), and only the
// second keeps running and completes the dedupe record.
func TestTakeoverFencesOutTheReplacedAttempt(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	// Renewals every 500ms (TTL/3): the replaced attempt loses its marker
	// within about that, with room for a loaded machine.
	r, err := New(Config{Redis: rdb, MarkerTTL: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	type payload struct{}
	var calls, running atomic.Int32
	causes := make(chan error, 2)
	err = r.Register(&job.Definition[payload]{
		Type:      "hold",
		DedupeKey: func(payload) string { return "k" },
		Handle: func(ctx context.Context, _ payload) error {
			n := calls.Add(1)
			running.Add(1)
			defer running.Add(-1)
			d := 10 * time.Second // the first attempt would run long
			if n == 2 {
				d = 3 * time.Second
			}
			select {
			case <-time.After(d):
				causes <- nil
				return job.WriteResult(ctx, []byte{byte('0' + n)})
			case <-ctx.Done():
				causes <- context.Cause(ctx)
				return context.Cause(ctx)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.renewer.Start()
	defer r.renewer.Shutdown()
	h := r.chain()
	attempt := func() *Attempt {
		a := &Attempt{TaskID: "t1", Type: "hold", Queue: "default", MaxRetry: 5, runner: r,
			Task: asynq.NewTask("hold", []byte(`{}`)), Start: time.Now()}
		a.spec, _ = r.registry.Lookup("hold")
		return a
	}
	results := make(chan error, 2)
	go func() { results <- h(context.Background(), attempt()) }()
	waitUntil(t, func() bool { return running.Load() == 1 })
	go func() { results <- h(context.Background(), attempt()) }()
	waitUntil(t, func() bool { return calls.Load() == 2 })

	// The replaced attempt is cut off at its next renewal.
	select {
	case cause := <-causes:
		if !errors.Is(cause, lockcore.ErrLockLost) {
			t.Fatalf("the replaced attempt ended with %v, want ErrLockLost", cause)
		}
	case <-time.After(2500 * time.Millisecond):
		t.Fatal("the replaced attempt kept running beside its redelivery")
	}
	first := <-results
	if d, ok := asDeferral(first); !ok || d.Reason != reasonLockLost {
		t.Fatalf("replaced attempt: %v, want a lock_lost deferral", first)
	}
	if n := running.Load(); n != 1 {
		t.Fatalf("%d handlers running, want the redelivery alone", n)
	}
	if err := <-results; err != nil {
		t.Fatalf("the redelivery: %v", err)
	}
	adm, err := r.store.Admit(context.Background(), lockcore.AdmitRequest{DedupeKey: "hold:k", TaskID: "t2"})
	if err != nil || adm.Verdict != lockcore.Done || string(adm.Result) != "2" {
		t.Fatalf("after both: %v %q %v, want done with the redelivery's result", adm.Verdict, adm.Result, err)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
