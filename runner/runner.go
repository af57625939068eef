package runner

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/internal/rediserr"
	"github.com/jobrunner/jobrunner/internal/tracectx"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
	"github.com/jobrunner/jobrunner/schedule"
)

// Runner is a worker: it owns the asynq server, the job registry, the
// middleware chain and the state the operations endpoints report.
type Runner struct {
	cfg       Config
	log       zerolog.Logger
	registry  *job.Registry
	client    *asynq.Client
	inspector *asynq.Inspector
	metrics   *metrics
	breakers  *resilience.Registry
	store     lockcore.Store
	renewer   *lockcore.Renewer
	tracker   *tracker
	coord     coordinator // shutdown coordinator state, drain.go
	tracer    *tracectx.Tracer
	health    *health // Redis as readiness sees it, health.go
	hookOnce  sync.Once
	queues    *queueStats // the queue metrics' background reads, queuestats.go

	mu      sync.Mutex
	srv     *asynq.Server
	handler HandlerFunc
	pool    *pool        // runs r.handler
	use     []Middleware // added by Use
	holds   sync.Map     // dependency -> *atomic.Int64: average slot hold, limit.go

	schedules []*schedule.Entry // added by Schedule
	sched     *scheduler        // enqueues their ticks, schedule.go

	started  atomic.Bool
	stopped  atomic.Bool
	draining atomic.Bool
	quiet    atomic.Bool   // Quiet was called: no fetching, not ready
	drainCh  chan struct{} // closed when a drain starts
	abandon  chan struct{} // closed when a drain gives up on running handlers
	tail     tail          // ends the Redis writes settling attempts, detach.go
	busy     busyCount     // processTask calls in progress

	statusCache statusCache // the status page's last reading of Redis, status.go

	batches *batchMetrics // batch.go
}

// New returns a runner for cfg. It does not touch Redis until Start.
func New(cfg Config) (*Runner, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	r := &Runner{
		cfg:       cfg,
		log:       *cfg.Logger,
		registry:  job.NewRegistry(),
		client:    asynq.NewClientFromRedisClient(cfg.Redis),
		inspector: asynq.NewInspectorFromRedisClient(cfg.Redis),
		tracker:   newTracker(),
		drainCh:   make(chan struct{}),
		abandon:   make(chan struct{}),
		store:     cfg.locks,
		tracer:    tracectx.NewTracer(cfg.TracerProvider, tracerName),
	}
	r.tail.init()
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("runner: Config.Metrics: %w (a registry can hold one runner's metrics)", err)
	}
	m.types = r.registry
	r.metrics = m
	if r.batches, err = newBatchMetrics(cfg.Metrics); err != nil {
		return nil, fmt.Errorf("runner: Config.Metrics: %w (a registry can hold one runner's metrics)", err)
	}
	for dep, l := range cfg.Limits {
		if l.Concurrency > 0 {
			m.depCap.WithLabelValues(dep).Set(float64(l.Concurrency))
		}
	}
	if r.health, err = newHealth(cfg.Redis, r.log, cfg.PollInterval, cfg.Metrics); err != nil {
		return nil, fmt.Errorf("runner: Config.Metrics: %w (a registry can hold one runner's metrics)", err)
	}
	r.renewer = lockcore.NewRenewer(lockcore.RenewerConfig{OnError: func(err error) {
		r.log.Warn().Str("event", "lock.renew_failed").Err(err).Msg("could not renew locks and markers; retrying until they expire")
	}})
	bcfg := cfg.Breakers
	bcfg.Logger = r.log
	bcfg.Redis = cfg.Redis // for the dependencies in Breakers.Shared
	userHook := bcfg.OnStateChange
	bcfg.OnStateChange = func(dep string, from, to resilience.State) {
		r.metrics.transitions.WithLabelValues(r.metrics.dependencies.label(dep), from.String(), to.String()).Inc()
		if userHook != nil {
			userHook(dep, from, to)
		}
	}
	breakers, err := resilience.NewRegistry(bcfg)
	if err != nil {
		return nil, fmt.Errorf("runner: Config.Breakers: %w", err)
	}
	r.breakers = breakers
	if err := cfg.Metrics.Register(newBreakerCollector(breakers, r.metrics.dependencies)); err != nil {
		return nil, fmt.Errorf("runner: Config.Metrics: %w (a registry can hold one runner's metrics)", err)
	}
	r.queues = newQueueStats(cfg.Redis, cfg.Queues, cfg.QueueStatsInterval, cfg.Now)
	if cfg.QueueStatsInterval > 0 {
		if err := cfg.Metrics.Register(r.queues); err != nil {
			return nil, fmt.Errorf("runner: Config.Metrics: %w (a registry can hold one runner's metrics)", err)
		}
	}
	return r, nil
}

// Breakers returns the runner's circuit-breaker registry.
func (r *Runner) Breakers() *resilience.Registry { return r.breakers }

// Register adds job types. It must be called before Start.
func (r *Runner) Register(specs ...job.Spec) error {
	if r.started.Load() {
		return errors.New("runner: Register after Start")
	}
	return r.registry.Register(specs...)
}

// Client returns an asynq client on the runner's Redis connection.
func (r *Runner) Client() *asynq.Client { return r.client }

// StartTimeout bounds how long Start waits for Redis to answer (less when
// Start's context ends sooner).
const StartTimeout = 10 * time.Second

// Start starts fetching and running jobs in the background. Use Shutdown
// (or Run) to stop. It never installs signal handlers. It first waits for
// Redis to answer, at most StartTimeout or until ctx ends: a program that is
// told to stop while it starts cancels ctx, and Start returns within half a
// second.
func (r *Runner) Start(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("runner: already started")
	}
	if err := awaitStart(ctx, r.cfg.Redis); err != nil {
		r.started.Store(false)
		if rediserr.IsAuth(err) {
			return fmt.Errorf("runner: redis authentication failed (check the user and password of the URL): %w", err)
		}
		return fmt.Errorf("runner: redis: %w", err)
	}
	vctx, cancel := context.WithTimeout(ctx, startPing)
	err := checkRedisVersion(vctx, r.cfg.Redis)
	cancel()
	if err != nil {
		r.started.Store(false)
		return fmt.Errorf("runner: %w", err)
	}
	r.hookOnce.Do(func() { r.cfg.Redis.AddHook(r.health.hook()) })
	r.handler = r.chain()
	r.pool = newPool(r.handler)
	base := context.WithoutCancel(ctx) // one for every task, not one each
	srv := asynq.NewServerFromRedisClient(r.cfg.Redis, asynq.Config{
		Concurrency:              r.cfg.Concurrency,
		Queues:                   r.cfg.Queues,
		TaskCheckInterval:        r.cfg.PollInterval,
		DelayedTaskCheckInterval: r.cfg.DelayedCheckInterval,
		RetryDelayFunc:           r.retryDelay,
		IsFailure:                isFailure,
		Logger:                   r.watchAsynq(newAsynqLogger(r.log, r.sanitizeText)),
		LogLevel:                 min(asynqLevel(r.log.GetLevel()), asynq.ErrorLevel), // drain.go watches errors
		ShutdownTimeout:          asynqShutdownTimeout,                                // the drain's own grace has already elapsed
		BaseContext:              func() context.Context { return base },
	})
	// The renewal loop starts first (jobs may start as soon as asynq does)
	// and is stopped again if asynq fails to start; a Renewer can start
	// again after Shutdown, so a retried Start renews leases too.
	r.renewer.Start()
	r.health.start()
	if err := srv.Start(asynq.HandlerFunc(r.processTask)); err != nil {
		r.renewer.Shutdown()
		r.health.stop()
		r.started.Store(false)
		return fmt.Errorf("runner: start: %w", err)
	}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	r.startScheduler(ctx)
	r.queues.start(ctx)
	r.log.Info().Str("event", "worker.started").Int("concurrency", r.cfg.Concurrency).
		Interface("queues", r.cfg.Queues).Strs("types", r.registry.Types()).Msg("worker started")
	return nil
}

// Run starts the runner, waits for ctx to be cancelled, then drains it
// within ShutdownTimeout.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return r.Shutdown(context.Background())
}

// Shutdown drains the worker: it stops fetching, lets in-flight jobs
// finish until ShutdownTimeout (or ctx's deadline, whichever is first; a
// ctx that is done, or becomes done, skips to the hard phase at once), then
// cancels the rest with cause job.ErrShutdown and requeues them without
// counting an attempt. It returns a *DrainError when a job could not be
// finished or requeued cleanly: a handler ignored cancellation (its job was
// handed over to a copy), or asynq could not write an outcome.
func (r *Runner) Shutdown(ctx context.Context) error {
	return r.drain(ctx)
}

// processTask is the asynq handler: it builds the attempt, runs the chain
// and translates the outcome into asynq's terms.
func (r *Runner) processTask(ctx context.Context, t *asynq.Task) error {
	a := &Attempt{Type: t.Type(), Task: t, Start: r.cfg.Now(), runner: r}
	a.TaskID, _ = asynq.GetTaskID(ctx)
	a.Queue, _ = asynq.GetQueueName(ctx)
	a.Retried, _ = asynq.GetRetryCount(ctx)
	a.MaxRetry, _ = asynq.GetMaxRetry(ctx)
	a.spec, _ = r.registry.Lookup(a.Type)
	ctx = r.startSpan(ctx, a)
	defer r.endSpan(a)
	ctx = r.batchContext(ctx, a)

	// The chain runs apart from asynq's goroutine so that a handler that
	// ignores cancellation can be handed over at the end of a drain (see
	// handOver).
	r.busy.add()
	defer a.releaseBusy()
	done := r.pool.done()
	r.pool.run(ctx, a, done)
	select {
	case err := <-done:
		r.pool.reuse(done)
		if a.storeTrouble {
			r.awaitRedis(ctx)
		}
		return r.settle(ctx, a, err)
	case <-r.abandon:
	}
	e, tail := a.tracked.Load(), r.tail.current()
	switch {
	case !r.tracker.isAbandoned(e):
		// It returned in time and is on its way out.
		err := <-done
		r.pool.reuse(done)
		return r.settle(ctx, a, err)
	case !e.inHandler.Load():
		// The handler returned; the layers are still writing its outcome
		// to Redis, which does not answer. They end with the drain's
		// hand-over phase (r.tail).
		select {
		case err := <-done:
			r.pool.reuse(done)
			return r.settle(ctx, a, err)
		case <-tail.Done():
			return &deferral{DeferError: job.DeferError{Reason: reasonShutdown}}
		}
	}
	return r.handOver(ctx, a)
}

// releaseBusy tells the drain that the attempt no longer holds asynq's
// goroutine, once.
func (a *Attempt) releaseBusy() { a.busyOnce.Do(a.runner.busy.done) }

// awaitRedis waits, up to storeRetryMax, until Redis answers a PING. asynq
// v0.26 does not retry a failed write of a task's outcome (its syncer
// reuses a cancelled context), so an outcome handed to it while Redis is
// away leaves the task active until lease recovery, which counts a failed
// attempt and runs it again. Attempts that met a Redis error wait here
// first; a drain that abandons its running jobs ends the wait.
func (r *Runner) awaitRedis(ctx context.Context) {
	r.retryStore(context.WithoutCancel(ctx), time.Now().Add(storeRetryMax), func() bool {
		pctx, cancel := r.detached(ctx, time.Second)
		defer cancel()
		return pingRedis(pctx, r.cfg.Redis) == nil
	})
}

// handOver gives up on a handler that ignored the drain's cancellation. It
// marks the task in Redis as handed over (the headerHandedOver header) and
// leaves it to asynq, whose shutdown pushes it back to its queue without
// rewriting it, while the old handler may run on until the process exits.
// The mark makes the next run take the job under an admission of its own
// (admissionID), so that it does not take the old handler's in-flight
// marker over as a redelivery would: the marker and the lock, renewed for
// as long as the old handler runs in this process and expiring
// AbandonedExpiry after the drain, keep the next run deferred until the old
// handler is gone. A job with neither a dedupe key nor a lock has no such
// protection.
//
// There is one task throughout, so a crash at any point cannot make the job
// run twice: unmarked, asynq's lease recovery retries it as a redelivery
// (the old handler died with the process); marked, as a hand-over.
// releaseBusy tells the drain that the hand-over is done; handOver then waits for
// asynq, which stops waiting for it at its shutdown (the returned outcome
// is not used).
func (r *Runner) handOver(ctx context.Context, a *Attempt) error {
	n, _ := strconv.Atoi(a.Task.Headers()[headerHandedOver])
	mctx, cancel := r.detached(ctx, handOverTimeout)
	err := asynqdb.AddHeader(mctx, r.cfg.Redis, a.Queue, a.TaskID, headerHandedOver, strconv.Itoa(n+1))
	cancel()
	if err != nil {
		r.log.Warn().Str("event", "drain.handover_failed").Str("task_id", a.TaskID).Err(err).
			Msg("could not mark an abandoned job as handed over: its next run may take the old handler's marker over while it still runs; fencing tokens protect the resource")
	}
	r.traceHandedOver(a)
	a.releaseBusy()
	<-ctx.Done()
	return &deferral{DeferError: job.DeferError{Reason: reasonShutdown}}
}

// headerHandedOver is the task header a drain adds to a job whose handler
// it abandoned: how many times that happened to the task.
const headerHandedOver = "jobrunner-handed-over"

// admissionID is the task ID under which a's job is admitted: the task ID,
// with "~h<n>" added once a drain handed the task over n times, so that a
// run after a hand-over is not taken for a redelivery of the abandoned run.
func (a *Attempt) admissionID() string {
	if n := a.Task.Headers()[headerHandedOver]; n != "" {
		return a.TaskID + "~h" + n
	}
	return a.TaskID
}
