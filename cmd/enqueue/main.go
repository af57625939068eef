// Command enqueue enqueues jobs for the reference worker (cmd/worker): one
// with enqueue TYPE [PAYLOAD_JSON], or many with enqueue --file JOBS.jsonl.
// It knows the built-in job types of job/builtin and validates their
// payloads strictly before anything reaches Redis.
//
// All behaviour lives in the enqueue package; run enqueue --help for the
// flags and exit statuses. Errors are one line each on stderr. go-redis's
// own log lines (dial failures) go to stderr as JSON, rate-limited, only
// when LOG_LEVEL is warn or lower; the default, error, hides them.
package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/jobrunner/jobrunner/enqueue"
	"github.com/jobrunner/jobrunner/job/builtin"
	"github.com/jobrunner/jobrunner/setup"
)

func main() {
	log, err := setup.NewLogger(os.Stderr, cmp.Or(os.Getenv("LOG_LEVEL"), "error"), "json")
	if err != nil {
		fmt.Fprintf(os.Stderr, "enqueue: LOG_LEVEL: %v\n", err)
		os.Exit(enqueue.ExitUsage)
	}
	setup.RouteRedisLogs(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cfg := enqueue.Config{Registry: builtin.Registry(builtin.Config{})}
	code := enqueue.Main(ctx, cfg, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
