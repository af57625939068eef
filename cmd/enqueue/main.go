// Command enqueue enqueues jobs for the reference worker (cmd/worker): one
// with enqueue TYPE [PAYLOAD_JSON], or many with enqueue --file JOBS.jsonl;
// enqueue serve offers the same over HTTP to programs in any language.
// It knows the built-in job types of job/builtin and validates their
// payloads strictly before anything reaches Redis. docs/enqueue-cli.md is
// its manual.
//
// All behaviour lives in the enqueue package; run enqueue --help for the
// flags and exit statuses. Besides REDIS_URL (and WORKER_SCHEDULES, which
// --schedules lists) it reads these environment variables:
//
//   - WEBHOOK_DENY_PRIVATE=true refuses webhook.deliver jobs whose
//     destination the worker, configured the same way, would refuse
//     (loopback and private ranges, after DNS resolution): exit status 2.
//   - LOG_LEVEL (default error; info for enqueue serve): go-redis's own
//     log lines (dial failures) go to stderr as JSON, rate-limited, only
//     when it is warn or lower, so that by default an error is one line;
//     enqueue serve logs its start (api.listening), stop and the Redis
//     failures behind its 503 answers there too.
//   - ENQUEUE_API_ADDR and ENQUEUE_API_TOKENS configure enqueue serve, the
//     HTTP API (docs/api.md): its address (default 127.0.0.1:8080) and
//     its bearer tokens, comma-separated; without tokens it listens on
//     loopback only.
//   - OTEL_EXPORTER_OTLP_ENDPOINT (and the other OTEL_* variables of
//     setup/otlp): each enqueue is a span ("enqueue TYPE", "enqueue batch"
//     for --file), a child of TRACEPARENT when it is set, exported over
//     OTLP/HTTP before the command exits; the tasks carry its context.
//     Unset: no span and no export (TRACEPARENT is still passed on).
package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/jobrunner/jobrunner/enqueue"
	"github.com/jobrunner/jobrunner/job/builtin"
	"github.com/jobrunner/jobrunner/setup"
	"github.com/jobrunner/jobrunner/setup/otlp"
)

func main() {
	// One-shot runs print errors as one line and log below error only on
	// request; enqueue serve is a server and logs its start, stop and 503s.
	level := "error"
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		level = "info"
	}
	log, err := setup.NewLogger(os.Stderr, cmp.Or(os.Getenv("LOG_LEVEL"), level), "json")
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
	cfg := enqueue.Config{Registry: builtin.Registry(bcfg), Logger: log}
	// --wait blanks the Redis URL's passwords itself; the OTLP header
	// values are this binary's other secrets.
	cfg.Sanitizer.Secrets = otlp.HeaderSecrets(os.Getenv)
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
	tp, err := otlp.TracerProvider(ctx, os.Getenv, "jobrunner-enqueue")
	if err != nil {
		fmt.Fprintf(os.Stderr, "enqueue: %v\n", err)
		os.Exit(enqueue.ExitUsage)
	}
	if tp != nil {
		otlp.LogErrors(log)
		cfg.TracerProvider = tp
	}
	code := enqueue.Main(ctx, cfg, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	if tp != nil {
		// Flush the run's span; a collector that does not answer costs at
		// most flushTimeout, never the exit status.
		fctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
		_ = tp.Shutdown(fctx)
		cancel()
	}
	os.Exit(code)
}

// flushTimeout bounds the export of the command's spans at exit.
const flushTimeout = 5 * time.Second

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
