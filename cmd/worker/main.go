// Command worker is the reference jobrunner worker: it runs the built-in
// jobs (demo.sleep, webhook.deliver) and serves /healthz, /readyz and
// /metrics. Configuration comes from flags or environment variables; see
// `worker -h` and the README.
//
// Exit status: 0 after a clean drain, 1 on a runtime error or a failed
// drain, 2 on a bad configuration value.
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
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/job/builtin"
	"github.com/jobrunner/jobrunner/runner"
)

func main() {
	sig := make(chan os.Signal, 3)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr, sig))
}

// run is the whole program; it returns the exit status.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer, sig <-chan os.Signal) int {
	cfg, err := loadConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "worker: %v\n", err)
		return 2
	}
	log, _ := runner.NewLogger(stdout, cfg.LogLevel, cfg.LogFormat)
	if err := serve(cfg, log, sig); err != nil {
		log.Error().Str("event", "worker.failed").Err(err).Msg("worker failed")
		return 1
	}
	return 0
}

func serve(cfg config, log zerolog.Logger, sig <-chan os.Signal) error {
	ctx := context.Background()
	rdb, closeRedis, err := connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeRedis()

	r, err := runner.New(runner.Config{
		Redis: rdb, Concurrency: cfg.Concurrency, Queues: cfg.Queues,
		ShutdownTimeout: cfg.ShutdownTimeout, PollInterval: cfg.PollInterval, Logger: &log,
	})
	if err != nil {
		return err
	}
	if err := r.Register(builtin.Specs(builtin.Config{WebhookDenyPrivate: cfg.WebhookDenyPrivate})...); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("operations server: %w", err)
	}
	hs := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	log.Info().Str("event", "http.listening").Str("addr", ln.Addr().String()).Msg("operations endpoints up")

	if err := r.Start(ctx); err != nil {
		return err
	}

	<-sig
	// A second signal skips to the hard phase; a third exits at once.
	hard, goHard := context.WithCancel(context.Background())
	defer goHard()
	go func() {
		<-sig
		log.Warn().Str("event", "drain.escalated").Msg("second signal: cancelling in-flight jobs now")
		goHard()
		<-sig
		log.Error().Str("event", "drain.aborted").Msg("third signal: exiting now")
		os.Exit(1)
	}()
	return r.Shutdown(hard)
}

// connect returns the Redis client: REDIS_URL's, else 127.0.0.1:6379 if a
// Redis answers there, else an embedded in-memory Redis on that address.
func connect(ctx context.Context, cfg config, log zerolog.Logger) (redis.UniversalClient, func(), error) {
	if cfg.RedisURL != "" {
		opts, err := runner.ParseRedisURL(cfg.RedisURL)
		if err != nil {
			return nil, nil, err
		}
		rdb := redis.NewUniversalClient(opts)
		log.Info().Str("event", "redis.connecting").Str("url", runner.RedactURL(cfg.RedisURL)).Msg("using REDIS_URL")
		return rdb, func() { _ = rdb.Close() }, nil
	}
	local := "127.0.0.1:6379"
	if a := os.Getenv("JOBRUNNER_LOCAL_REDIS_ADDR"); a != "" {
		local = a // tests only: the shared 6379 is not theirs to take
	}
	rdb := redis.NewClient(&redis.Options{Addr: local})
	pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err == nil {
		log.Info().Str("event", "redis.connecting").Str("url", "redis://"+local).Msg("REDIS_URL unset; using the local Redis")
		return rdb, func() { _ = rdb.Close() }, nil
	}
	_ = rdb.Close()
	stop, err := startEmbedded(local)
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL unset, nothing answers on %s, and the embedded Redis could not start there: %w", local, err)
	}
	log.Warn().Str("event", "redis.embedded").Str("addr", local).
		Msg("REDIS_URL unset and no local Redis answers: started an embedded in-memory Redis; NOTHING PERSISTS when the worker exits")
	rdb = redis.NewClient(&redis.Options{Addr: local})
	return rdb, func() { _ = rdb.Close(); stop() }, nil
}
