// Command enqueue enqueues a job: enqueue TYPE [PAYLOAD_JSON].
//
// Exit status: 0 success, 1 any other error (e.g. Redis unreachable),
// 2 usage or validation error (nothing enqueued).
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/job/builtin"
	"github.com/jobrunner/jobrunner/runner"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) < 1 || len(args) > 2 {
		fmt.Fprintln(stderr, "usage: enqueue TYPE [PAYLOAD_JSON]")
		return 2
	}
	typ, payload := args[0], "{}"
	if len(args) == 2 {
		payload = args[1]
	}
	reg := builtin.Registry(builtin.Config{})
	spec, ok := reg.Lookup(typ)
	if !ok {
		fmt.Fprintf(stderr, "enqueue: unknown job type %q (known: %v)\n", typ, reg.Kinds())
		return 2
	}
	if _, err := spec.Prepare([]byte(payload)); err != nil {
		fmt.Fprintf(stderr, "enqueue: %v\n", err)
		return 2
	}
	url := getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379"
	}
	opts, err := runner.ParseRedisURL(url)
	if err != nil {
		fmt.Fprintf(stderr, "enqueue: REDIS_URL=%q: %v\n", runner.RedactURL(url), err)
		return 2
	}
	rdb := redis.NewUniversalClient(opts)
	defer rdb.Close()
	c := asynq.NewClientFromRedisClient(rdb)
	info, err := c.EnqueueContext(context.Background(), asynq.NewTask(typ, []byte(payload), job.TaskOptions(spec.Options())...))
	if err != nil {
		fmt.Fprintf(stderr, "enqueue: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "enqueued %s on queue %s\n", info.ID, info.Queue)
	return 0
}
