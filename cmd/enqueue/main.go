// Command enqueue enqueues jobs for the reference worker (cmd/worker): one
// with enqueue TYPE [PAYLOAD_JSON], or many with enqueue --file JOBS.jsonl.
// It knows the built-in job types of job/builtin and validates their
// payloads strictly before anything reaches Redis.
//
// All behaviour lives in the enqueue package; run enqueue --help for the
// flags and exit statuses.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jobrunner/jobrunner/enqueue"
	"github.com/jobrunner/jobrunner/job/builtin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cfg := enqueue.Config{Registry: builtin.Registry(builtin.Config{})}
	code := enqueue.Main(ctx, cfg, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
