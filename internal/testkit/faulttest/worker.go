package faulttest

import (
	"cmp"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/job/builtin"
	"github.com/jobrunner/jobrunner/runner"
	"github.com/jobrunner/jobrunner/schedule"
)

// WorkerConfig configures a worker for the suite.
type WorkerConfig struct {
	// Redis is the worker's (faulted) Redis. Required.
	Redis redis.UniversalClient
	// Ledger receives the reports of fault.work. Required.
	Ledger *Ledger
	// Proc names the worker in the ledger. Defaults to "w".
	Proc string
	// Concurrency defaults to 4.
	Concurrency int
	// ShutdownTimeout defaults to 2s.
	ShutdownTimeout time.Duration
	// Logger defaults to none.
	Logger *zerolog.Logger
	// MarkerTTL is the in-flight marker's TTL. Defaults to 5s, so that a
	// marker left by a dead worker expires within a test.
	MarkerTTL time.Duration
	// DuplicateDelay is how long a duplicate of a job in flight waits.
	// Defaults to 300ms.
	DuplicateDelay time.Duration
	// Limits are the dependency limits (runner.Config.Limits).
	Limits map[string]runner.Limit
	// Schedules are run by the worker (Runner.Schedule).
	Schedules []schedule.Schedule
}

// The drain timings of the suite's workers.
const (
	shutdownTimeout = 2 * time.Second
	hardStopGrace   = time.Second
)

// MaxDrain is the longest a drain of a suite worker with the default
// ShutdownTimeout may take, whatever Redis does (runner.Config.MaxDrain).
func MaxDrain() time.Duration {
	return runner.Config{ShutdownTimeout: shutdownTimeout, HardStopGrace: hardStopGrace}.MaxDrain()
}

// Specs returns the suite's job types reporting to l as process proc:
// fault.work, fault.tick and demo.sleep.
func Specs(l *Ledger, proc string) []job.Spec {
	return []job.Spec{WorkJob(l, proc), TickJob(l, proc), builtin.Sleep()}
}

// NewWorker returns a runner with the suite's job types (Specs) registered,
// polling fast so that a test does not wait on it.
func NewWorker(cfg WorkerConfig) (*runner.Runner, error) {
	r, err := runner.New(runner.Config{
		Redis:                cfg.Redis,
		Concurrency:          cmp.Or(cfg.Concurrency, 4),
		ShutdownTimeout:      cmp.Or(cfg.ShutdownTimeout, shutdownTimeout),
		HardStopGrace:        hardStopGrace,
		PollInterval:         10 * time.Millisecond,
		DelayedCheckInterval: 100 * time.Millisecond,
		Logger:               cfg.Logger,
		MarkerTTL:            cmp.Or(cfg.MarkerTTL, 5*time.Second),
		DuplicateDelay:       cmp.Or(cfg.DuplicateDelay, 300*time.Millisecond),
		Limits:               cfg.Limits,
	})
	if err != nil {
		return nil, err
	}
	if err := r.Register(Specs(cfg.Ledger, cmp.Or(cfg.Proc, "w"))...); err != nil {
		return nil, err
	}
	if err := r.Schedule(cfg.Schedules...); err != nil {
		return nil, err
	}
	return r, nil
}

// RedisOptions are go-redis options for a worker's client in the suite:
// short timeouts, so that a dead or blackholed Redis fails requests in
// well under a lock's TTL instead of after go-redis's 3s defaults.
func RedisOptions(addr string) *redis.Options {
	return &redis.Options{
		Addr:                  addr,
		ContextTimeoutEnabled: true, // as runner.New requires
		DialTimeout:           300 * time.Millisecond,
		ReadTimeout:           400 * time.Millisecond,
		WriteTimeout:          400 * time.Millisecond,
		PoolTimeout:           500 * time.Millisecond,
		MaxRetries:            1,
		// go-redis dials 5 times 100ms apart by default: a dead Redis
		// would take half a second to notice per request.
		DialerRetries:      1,
		DialerRetryTimeout: 10 * time.Millisecond,
	}
}
