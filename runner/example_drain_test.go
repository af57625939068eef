//go:build unix

package runner_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

type reportArgs struct {
	Pages int `json:"pages"`
}

// Example_gracefulShutdown runs a worker until SIGTERM, as Kubernetes sends
// it, then drains: no job starts any more, and a long job sees
// job.Draining fire, saves its progress and returns job.ErrInterrupted, so
// it is requeued without counting an attempt. Cleanup callbacks run last.
// (The example sends itself the signal; an in-memory Redis stands in for a
// real one.)
func Example_gracefulShutdown() {
	mr, err := miniredis.Run()
	if err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})

	r, err := runner.New(runner.Config{Redis: rdb, ShutdownTimeout: 10 * time.Second})
	if err != nil {
		panic(err)
	}
	started := make(chan struct{})
	report := &job.Definition[reportArgs]{
		Type: "report.build",
		Handle: func(ctx context.Context, args reportArgs) error {
			close(started)
			for page := 1; page <= args.Pages; page++ {
				select {
				case <-job.Draining(ctx):
					fmt.Printf("draining: saved progress before page %d\n", page)
					return job.ErrInterrupted // requeued, no attempt counted
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Second): // render a page
				}
			}
			return nil
		},
	}
	if err := r.Register(report); err != nil {
		panic(err)
	}
	r.OnShutdown(func(context.Context) error {
		fmt.Println("cleanup: closing the Redis client")
		return rdb.Close()
	})
	if _, err := r.Client().Enqueue(asynq.NewTask("report.build", []byte(`{"pages":100}`))); err != nil {
		panic(err)
	}

	// Run until SIGTERM or SIGINT, then drain within ShutdownTimeout.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-started
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM) // what the kubelet does
	}()
	err = r.Run(ctx)
	var drainErr *runner.DrainError
	switch {
	case errors.As(err, &drainErr):
		fmt.Println("drain not clean:", err) // exit status 1
	case err != nil:
		fmt.Println("worker failed:", err)
	default:
		fmt.Println("drained cleanly") // exit status 0
	}
	// Output:
	// draining: saved progress before page 1
	// cleanup: closing the Redis client
	// drained cleanly
}
