// Command testworker is the worker process of the fault-injection suite: a
// runner with fault.work and demo.sleep registered, short timeouts, its
// Redis client tuned to fail fast, and the ledger on a second Redis.
//
// Environment: REDIS_URL (host:port or redis://), LEDGER_ADDR (host:port),
// WORKER_PROC (its name in the ledger), WORKER_CONCURRENCY, WORKER_HTTP_ADDR,
// LOG_LEVEL, WORKER_DEPENDENCY_LIMITS (concurrency caps only:
// dep=concurrency:N;...) and WORKER_SCHEDULES (the worker's syntax, over
// the suite's job types). SIGTERM or SIGINT drains it; it exits 0 after a
// clean drain, 1 otherwise, 2 on a bad setting.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/testkit/faulttest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/schedule"
	"github.com/jobrunner/jobrunner/setup"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testworker:", err)
		var bad *badSetting
		if errors.As(err, &bad) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// badSetting is an environment variable the testworker cannot use.
type badSetting struct{ err error }

func (b *badSetting) Error() string { return b.err.Error() }
func (b *badSetting) Unwrap() error { return b.err }

func run() error {
	log, err := setup.NewLogger(os.Stdout, os.Getenv("LOG_LEVEL"), "json")
	if err != nil {
		return err
	}
	rdb := redis.NewClient(faulttest.RedisOptions(strings.TrimPrefix(os.Getenv("REDIS_URL"), "redis://")))
	defer rdb.Close()
	ldb := redis.NewClient(&redis.Options{Addr: os.Getenv("LEDGER_ADDR")})
	defer ldb.Close()
	conc, _ := strconv.Atoi(os.Getenv("WORKER_CONCURRENCY"))
	proc := os.Getenv("WORKER_PROC")
	log = log.With().Str("proc", proc).Logger()
	limits, err := faulttest.ParseLimits(os.Getenv("WORKER_DEPENDENCY_LIMITS"))
	if err != nil {
		return &badSetting{fmt.Errorf("WORKER_DEPENDENCY_LIMITS: %w", err)}
	}
	var schedules []schedule.Schedule
	if v := os.Getenv("WORKER_SCHEDULES"); v != "" {
		reg := job.NewRegistry()
		if err := reg.Register(faulttest.Specs(nil, "")...); err != nil {
			return err
		}
		entries, err := schedule.Parse(v, reg)
		if err != nil {
			return &badSetting{fmt.Errorf("WORKER_SCHEDULES %w", err)}
		}
		for _, e := range entries {
			schedules = append(schedules, e.Schedule)
		}
	}
	r, err := faulttest.NewWorker(faulttest.WorkerConfig{
		Redis: rdb, Ledger: faulttest.NewLedger(ldb, ""), Proc: proc, Concurrency: conc, Logger: &log,
		Limits: limits, Schedules: schedules,
	})
	if err != nil {
		return err
	}
	if addr := os.Getenv("WORKER_HTTP_ADDR"); addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = hs.Serve(ln) }()
		defer hs.Close()
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return r.Run(ctx)
}
