package runner_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

type tenantKey struct{}

// TestUseWrapsTheHandler: middleware added with Use runs in the order given,
// around the handler only (after decode, dedupe, lock and breaker), sees
// the decoded payload and the task's headers, and its context reaches the
// handler; a panic in it fails the attempt like a handler's panic and
// leaves no lock behind.
func TestUseWrapsTheHandler(t *testing.T) {
	r, b := harness(t, runner.Config{})
	var mu sync.Mutex
	var trail []string
	note := func(s string) { mu.Lock(); trail = append(trail, s); mu.Unlock() }
	err := r.Use(
		func(next runner.HandlerFunc) runner.HandlerFunc {
			return func(ctx context.Context, a *runner.Attempt) error {
				note("outer:" + a.Payload().(greet).Name)
				if a.Task.Headers()["tenant"] == "boom" {
					panic("middleware bug")
				}
				ctx = context.WithValue(ctx, tenantKey{}, a.Task.Headers()["tenant"])
				return next(ctx, a)
			}
		},
		func(next runner.HandlerFunc) runner.HandlerFunc {
			return func(ctx context.Context, a *runner.Attempt) error {
				note("inner")
				return next(ctx, a)
			}
		},
	)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Register(&job.Definition[greet]{
		Type: "greet.mw",
		Lock: func(g greet) job.Lock { return job.Lock{Key: "mw"} },
		Handle: func(ctx context.Context, g greet) error {
			note("handler:" + ctx.Value(tenantKey{}).(string))
			if _, ok := job.Fence(ctx); !ok {
				return errors.New("no fence in the middleware's context")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	if err := r.Use(func(next runner.HandlerFunc) runner.HandlerFunc { return next }); err == nil {
		t.Fatal("Use after Start succeeded")
	}
	task := asynq.NewTaskWithHeaders("greet.mw", []byte(`{"name":"ann"}`), map[string]string{"tenant": "acme"})
	if _, err := b.client.Enqueue(task); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "done", func() bool { return len(b.logs.Events("job.done")) == 1 })
	mu.Lock()
	got := strings.Join(trail, " ")
	mu.Unlock()
	if got != "outer:ann inner handler:acme" {
		t.Fatalf("trail = %q", got)
	}

	boom := asynq.NewTaskWithHeaders("greet.mw", []byte(`{"name":"bob"}`), map[string]string{"tenant": "boom"})
	if _, err := b.client.Enqueue(boom, asynq.MaxRetry(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the panic", func() bool { return len(b.logs.Events("job.failed")) == 1 })
	if l := b.logs.Events("job.failed")[0]; l["reason"] != "panic" || l["final"] != true {
		t.Fatalf("failed line = %v", l)
	}
	// The lock was released: the next job on it runs at once.
	if _, err := b.client.Enqueue(task); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the next job on the lock", func() bool { return len(b.logs.Events("job.done")) == 2 })
	if n := len(b.logs.Events("job.deferred")); n != 0 {
		t.Fatalf("%d deferrals: the panic kept the lock", n)
	}
}
