package runner_test

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
	"github.com/jobrunner/jobrunner/setup"
)

type invoice struct {
	ID     string `json:"id"`
	Amount int64  `json:"amount"`
}

// Example is a worker's whole life: a client from a Redis URL, a runner,
// one job type registered, a job enqueued by a producer, Run until the
// context ends, and the drain that follows. (An in-memory Redis stands in
// for a real one.)
func Example() {
	mr, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer mr.Close()
	opts, err := setup.ParseRedisURL("redis://" + mr.Addr())
	if err != nil {
		panic(err)
	}
	rdb := setup.NewRedisClient(opts) // honours deadlines, as runner.New requires
	defer rdb.Close()

	r, err := runner.New(runner.Config{Redis: rdb, PollInterval: 20 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	charge := &job.Definition[invoice]{
		Type:      "invoice.charge",
		DedupeKey: func(p invoice) string { return p.ID }, // runs once per invoice
		Handle: func(ctx context.Context, p invoice) error {
			fmt.Printf("charged %s: %d\n", p.ID, p.Amount)
			stop() // one job is enough for the example: stop the worker
			return nil
		},
	}
	if err := r.Register(charge); err != nil {
		panic(err)
	}

	// A producer validates the payload before it reaches Redis.
	if _, err := charge.Enqueue(ctx, r.Client(), invoice{ID: "in_1", Amount: 4200}); err != nil {
		panic(err)
	}

	// Run fetches jobs until ctx ends, then drains (Shutdown).
	if err := r.Run(ctx); err != nil {
		fmt.Println("drain not clean:", err)
		return
	}
	fmt.Println("drained")
	// Output:
	// charged in_1: 4200
	// drained
}

// ExampleRunner_Use adds a middleware just around the handler: it sees
// the task's headers and the decoded payload and passes a value on in the
// job's context.
func ExampleRunner_Use() {
	mr, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer mr.Close()
	opts, _ := setup.ParseRedisURL("redis://" + mr.Addr())
	rdb := setup.NewRedisClient(opts)
	defer rdb.Close()
	r, err := runner.New(runner.Config{Redis: rdb})
	if err != nil {
		panic(err)
	}
	type tenantKey struct{}
	err = r.Use(func(next runner.HandlerFunc) runner.HandlerFunc {
		return func(ctx context.Context, a *runner.Attempt) error {
			ctx = context.WithValue(ctx, tenantKey{}, a.Task.Headers()["tenant"])
			return next(ctx, a)
		}
	})
	fmt.Println(err)
	// Output: <nil>
}
