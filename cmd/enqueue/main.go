// Command enqueue enqueues jobs for the reference worker (cmd/worker): one
// with enqueue TYPE [PAYLOAD_JSON], or many with enqueue --file JOBS.jsonl.
// It knows the built-in job types of job/builtin and validates their
// payloads strictly before anything reaches Redis.
//
// All behaviour lives in the enqueue package; run enqueue --help for the
// flags and exit statuses. Besides REDIS_URL (and WORKER_SCHEDULES, which
// --schedules lists) it reads two environment variables:
//
//   - WEBHOOK_DENY_PRIVATE=true refuses webhook.deliver jobs whose
//     destination the worker, configured the same way, would refuse
//     (loopback and private ranges, after DNS resolution): exit status 2.
//   - LOG_LEVEL (default error): go-redis's own log lines (dial failures)
//     go to stderr as JSON, rate-limited, only when it is warn or lower,
//     so that by default an error is one line.
package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
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
	bcfg, err := builtinConfig(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "enqueue: %v\n", err)
		os.Exit(enqueue.ExitUsage)
	}
	cfg := enqueue.Config{Registry: builtin.Registry(bcfg)}
	if bcfg.WebhookDenyPrivate {
		checkWebhook := builtin.CheckWebhookDestination(bcfg)
		cfg.Check = func(ctx context.Context, _ string, payload any) error {
			if p, ok := payload.(builtin.WebhookPayload); ok {
				return checkWebhook(ctx, p)
			}
			return nil
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := enqueue.Main(ctx, cfg, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// builtinConfig reads WEBHOOK_DENY_PRIVATE, as the worker does.
func builtinConfig(getenv func(string) string) (builtin.Config, error) {
	var cfg builtin.Config
	if v := getenv("WEBHOOK_DENY_PRIVATE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("WEBHOOK_DENY_PRIVATE=%q: want true or false", v)
		}
		cfg.WebhookDenyPrivate = b
	}
	return cfg, nil
}
