// Command worker is the reference jobrunner worker: it runs the built-in
// jobs (demo.sleep, webhook.deliver, the batch callback batch.report) and the periodic jobs of
// WORKER_SCHEDULES, and serves /healthz, /readyz and /metrics. Configuration comes from flags or environment variables; see
// `worker -h` and docs/configuration.md. `worker -version` prints the module version
// and commit it was built from.
//
// # Signals
//
// The first SIGTERM or SIGINT drains the worker: /readyz turns 503
// "draining" at once (/healthz stays 200), no job starts any more, jobs in
// flight run on for WORKER_SHUTDOWN_TIMEOUT (default 25s), then they are
// cancelled, given 3s to return, and requeued with their attempt count
// unchanged. A second signal cancels and requeues at once; a third exits
// with status 1 at once. SIGTSTP before that quiets the worker: it stops
// fetching but keeps running what it has, and /readyz answers 503 "quiet".
//
// # Traces
//
// With OTEL_EXPORTER_OTLP_ENDPOINT set (see setup/otlp for the other OTEL_*
// variables) every attempt is a span exported over OTLP/HTTP, flushed at
// the end of a drain; without it the worker makes no span and exports
// nothing.
//
// # Exit status
//
// 0 after a clean drain: every job in flight finished or was requeued
// cleanly. 1 on a runtime error (Redis older than 7.0 included), on a
// third signal, or when the drain was not clean (runner.DrainError: a
// handler ignored cancellation, or asynq reported an error, such as Redis
// unreachable, while settling or requeueing jobs). 2 on a bad configuration value (an OTEL_* value setup/otlp
// refuses included), or when REDIS_URL is unset inside
// Kubernetes and no Redis answers on 127.0.0.1:6379 (the embedded Redis is
// for local trials only).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/job/builtin"
	"github.com/jobrunner/jobrunner/resilience"
	"github.com/jobrunner/jobrunner/runner"
	"github.com/jobrunner/jobrunner/setup"
	"github.com/jobrunner/jobrunner/setup/otlp"
)

func main() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGTSTP)
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr, sig))
}

// run is the whole program; it returns the exit status.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer, sig <-chan os.Signal) int {
	cfg, err := loadConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errVersion) {
		fmt.Fprintln(stdout, "worker", setup.Version())
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 2
	}
	cfg.Secrets = workerSecrets(cfg.RedisURL, getenv)
	log, _ := setup.NewLogger(stdout, cfg.LogLevel, cfg.LogFormat)
	setup.RouteRedisLogs(log) // go-redis's own lines: JSON, rate-limited
	tp, err := otlp.TracerProvider(context.Background(), getenv, "jobrunner-worker")
	if err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 2
	}
	var tracing trace.TracerProvider // nil: the global, a no-op
	if tp != nil {
		otlp.LogErrors(log)
		tracing = tp
		defer func() { // on the paths that never drain; a no-op after the drain's flush
			fctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = tp.Shutdown(fctx)
		}()
	}
	if err := serve(cfg, log, sig, tracing); err != nil {
		log.Error().Str("event", "worker.failed").Err(err).Msg("worker failed")
		var ce *configError
		if errors.As(err, &ce) {
			return 2
		}
		return 1
	}
	return 0
}

func serve(cfg config, log zerolog.Logger, sig <-chan os.Signal, tracing trace.TracerProvider) error {
	// A signal while the worker connects ends the start at once: on a
	// Redis that does not answer it would otherwise wait its timeouts.
	ctx, endWatch := watchStart(sig)
	defer endWatch()
	rdb, closeRedis, err := connect(ctx, cfg, log)
	if s, _ := endWatch(); s != nil {
		return interrupted(log, s, err)
	}
	if err != nil {
		return err
	}
	defer closeRedis()

	r, err := runner.New(runner.Config{
		Redis: rdb, Concurrency: cfg.Concurrency, Queues: cfg.Queues,
		ShutdownTimeout: cfg.ShutdownTimeout, PollInterval: cfg.PollInterval, Logger: &log,
		RetryBackoff: cfg.RetryBackoff, MaxDeferral: cfg.MaxDeferral,
		DedupeBuckets: cfg.DedupeBuckets, DedupeBucketsBefore: cfg.DedupeBucketsBefore,
		Limits: cfg.Limits, Breakers: resilience.RegistryConfig{Shared: cfg.SharedBreakers},
		TracerProvider: tracing, Sanitize: job.NewSanitizer(job.SanitizerConfig{Secrets: cfg.Secrets}).Sanitize,
	})
	if err != nil {
		return err
	}
	if f, ok := tracing.(interface{ Shutdown(context.Context) error }); ok {
		r.OnShutdown(f.Shutdown) // registered first, so it runs last: flushes every span of the drain
	}
	if err := r.Register(builtin.Specs(builtin.Config{WebhookDenyPrivate: cfg.WebhookDenyPrivate})...); err != nil {
		return err
	}
	if err := r.Schedule(cfg.Schedules...); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("operations server: %w", err)
	}
	hs := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	stopHTTP := func(ctx context.Context) error { return hs.Shutdown(ctx) }
	defer func() { // on the paths that never drain; a no-op after the cleanup
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = stopHTTP(sctx)
	}()
	// The operations endpoints stay up until the drain is over, so that
	// /readyz reports "draining" and /healthz stays 200 meanwhile.
	r.OnShutdown(stopHTTP)
	log.Info().Str("event", "http.listening").Str("addr", ln.Addr().String()).Msg("operations endpoints up")

	ctx, endWatch = watchStart(sig)
	defer endWatch()
	err = r.Start(ctx)
	first, quiet := endWatch()
	if first != nil && err != nil {
		return interrupted(log, first, err)
	}
	if err != nil {
		return err
	}
	if quiet {
		r.Quiet()
	}
	return drainOnSignal(r, log, sig, first, func() { os.Exit(1) })
}

// watchStart returns a context that the first SIGTERM or SIGINT on sig
// cancels, noting a SIGTSTP meanwhile, until end is called; end returns
// what it saw and may be called again.
func watchStart(sig <-chan os.Signal) (ctx context.Context, end func() (stop os.Signal, quiet bool)) {
	ctx, cancel := context.WithCancel(context.Background())
	quit, done := make(chan struct{}), make(chan struct{})
	var stop os.Signal
	var quiet bool
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			case s := <-sig:
				if s == syscall.SIGTSTP {
					quiet = true
					continue
				}
				stop = s
				cancel()
				return
			}
		}
	}()
	var once sync.Once
	return ctx, func() (os.Signal, bool) {
		once.Do(func() { close(quit); <-done; cancel() })
		return stop, quiet
	}
}

// interrupted ends a start cut short by a signal: nothing ran, so there is
// nothing to drain.
func interrupted(log zerolog.Logger, s os.Signal, cause error) error {
	ev := log.Info().Str("event", "worker.interrupted").Str("signal", s.String())
	if cause != nil {
		ev = ev.AnErr("cause", cause)
	}
	ev.Msg("signal while starting: exiting; no job had started")
	return nil
}

// escalation is what the drain.started line tells the operator.
const escalation = "send SIGTERM or SIGINT again to cancel in-flight jobs now (they are requeued, no attempt counted); a third time to exit at once with status 1"

// drainOnSignal waits for SIGTERM or SIGINT (unless first is one already
// received), then drains r. A second signal goes to the hard phase at once
// (in-flight jobs are cancelled and requeued); a third logs
// event=drain.aborted and calls exit, which must not return: jobs still
// running stay active in Redis until asynq's lease recovery retries them.
// SIGTSTP before that quiets the worker.
func drainOnSignal(r *runner.Runner, log zerolog.Logger, sig <-chan os.Signal, first os.Signal, exit func()) error {
	for first == nil {
		if s := <-sig; s == syscall.SIGTSTP {
			r.Quiet()
		} else {
			first = s
		}
	}
	hard, goHard := context.WithCancel(context.Background())
	defer goHard()
	dlog := log.With().Str("signal", first.String()).Str("escalation", escalation).Logger()
	done := make(chan error, 1)
	go func() { done <- r.Shutdown(dlog.WithContext(hard)) }()
	for n := 1; ; {
		select {
		case err := <-done:
			return err
		case s := <-sig:
			if s == syscall.SIGTSTP {
				continue // already draining
			}
			n++
			if n == 2 {
				log.Warn().Str("event", "drain.escalated").Str("signal", s.String()).
					Msg("second signal: cancelling in-flight jobs now; a third signal exits at once")
				goHard()
				continue
			}
			log.Error().Str("event", "drain.aborted").Str("signal", s.String()).
				Msg("third signal: exiting now with status 1; jobs still running come back through asynq's lease recovery")
			exit()
			return errors.New("drain aborted by a third signal")
		}
	}
}

// closeBounded closes rdb, waiting at most closeWait: a client whose
// dials hang (a Sentinel that does not answer) waits for them to time out
// before Close returns, and the process is exiting anyway.
func closeBounded(rdb redis.UniversalClient) {
	done := make(chan struct{})
	go func() { _ = rdb.Close(); close(done) }()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

const closeWait = 200 * time.Millisecond

// connect returns the Redis client: REDIS_URL's, else 127.0.0.1:6379 if a
// Redis answers there, else an embedded in-memory Redis on that address.
func connect(ctx context.Context, cfg config, log zerolog.Logger) (redis.UniversalClient, func(), error) {
	if cfg.RedisURL != "" {
		opts, err := setup.ParseRedisURL(cfg.RedisURL)
		if err != nil {
			return nil, nil, err
		}
		rdb := setup.NewRedisClient(opts) // follows a cluster failover within a second
		log.Info().Str("event", "redis.connecting").Str("url", setup.RedactURL(cfg.RedisURL)).Msg("using REDIS_URL")
		return rdb, func() { closeBounded(rdb) }, nil
	}
	local := "127.0.0.1:6379"
	if a := os.Getenv("JOBRUNNER_LOCAL_REDIS_ADDR"); a != "" {
		local = a // tests only: the shared 6379 is not theirs to take
	}
	// A plain TCP probe first: when nothing listens (the usual case on a
	// laptop) go-redis is not asked, so it does not warn "failed to dial"
	// before the embedded Redis starts.
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if conn, err := (&net.Dialer{}).DialContext(pctx, "tcp", local); err == nil {
		_ = conn.Close()
		rdb := redis.NewClient(&redis.Options{Addr: local, ContextTimeoutEnabled: true})
		if err := rdb.Ping(pctx).Err(); err == nil {
			log.Info().Str("event", "redis.connecting").Str("url", "redis://"+local).Msg("REDIS_URL unset; using the local Redis")
			return rdb, func() { _ = rdb.Close() }, nil
		}
		_ = rdb.Close()
	}
	if cfg.InKubernetes {
		return nil, nil, &configError{fmt.Sprintf("REDIS_URL is unset and no Redis answers on %s; inside Kubernetes "+
			"(KUBERNETES_SERVICE_HOST is set) the worker does not start an embedded in-memory Redis, which would report "+
			"ready while running nothing: set REDIS_URL", local)}
	}
	stop, err := startEmbedded(local)
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL unset, nothing answers on %s, and the embedded Redis could not start there: %w", local, err)
	}
	log.Warn().Str("event", "redis.embedded").Str("addr", local).
		Msg("REDIS_URL unset and no local Redis answers: started an embedded in-memory Redis; NOTHING PERSISTS when the worker exits")
	rdb := redis.NewClient(&redis.Options{Addr: local, ContextTimeoutEnabled: true})
	return rdb, func() { _ = rdb.Close(); stop() }, nil
}
