package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/job"
)

// asynqShutdownTimeout is the ShutdownTimeout the runner gives asynq. By the
// time the runner calls asynq's Shutdown the hard-phase grace has already
// elapsed, so asynq need not wait again: it only has to let the worker
// goroutines of handlers that have just returned record their outcome
// before it requeues the rest (requeueing one of those would run a finished
// job twice). It costs nothing unless a handler ignores cancellation.
const asynqShutdownTimeout = 250 * time.Millisecond

// DrainError is returned by Shutdown when a drain did not end cleanly: some
// job was neither finished nor requeued cleanly. cmd/worker exits with
// status 1 on it.
type DrainError struct {
	// Abandoned lists the task IDs whose handlers had not returned at the
	// end of the hard phase's grace, although their contexts were
	// cancelled. Each was marked as handed over in Redis and pushed back to
	// its queue by asynq with the attempt count unchanged, while the old
	// handler may still run until the process exits: the next run takes
	// the job under a new admission, so its in-flight marker and lock keep
	// it waiting until the old handler's expire (AbandonedExpiry after the
	// drain). A job with neither a dedupe key nor a lock has no such
	// protection.
	Abandoned []string

	// Unsettled lists the task IDs whose handlers had returned but whose
	// outcome the runner could not write to Redis before the drain's
	// budget ran out (Redis unreachable or not answering): their completed
	// records, releases or deferrals may be missing. Such a task stays
	// active in Redis until asynq's lease recovery runs it again, one to two
	// minutes after Redis answers; a job whose success was not recorded
	// runs again then.
	Unsettled []string

	// AsynqErrors are the errors asynq logged during the drain, typically
	// Redis unreachable, and a note when asynq's own shutdown did not end
	// within its bound: an outcome or a requeue may not have been written.
	// Such a task stays active in Redis until asynq's lease recovery
	// retries it, one to two minutes later, with an attempt counted.
	AsynqErrors []string
}

func (e *DrainError) Error() string {
	var parts []string
	if n := len(e.Abandoned); n > 0 {
		parts = append(parts, fmt.Sprintf("%d handler(s) ignored cancellation and were handed over while still running (%s)",
			n, strings.Join(e.Abandoned, ", ")))
	}
	if n := len(e.Unsettled); n > 0 {
		parts = append(parts, fmt.Sprintf("%d finished job(s) could not write their outcome to Redis in time (%s)",
			n, strings.Join(e.Unsettled, ", ")))
	}
	if n := len(e.AsynqErrors); n > 0 {
		parts = append(parts, fmt.Sprintf("asynq reported %d error(s), so some jobs may not have been settled or requeued (first: %s)",
			n, e.AsynqErrors[0]))
	}
	return "runner: drain not clean: " + strings.Join(parts, "; ")
}

// coordinator is the shutdown coordinator's state besides the tracker.
type coordinator struct {
	mu        sync.Mutex
	watching  bool     // asynq errors are being collected
	asynqErrs []string // collected while watching, at most maxAsynqErrs
	cleanups  []func(context.Context) error
}

const maxAsynqErrs = 10

// watchAsynq wraps asynq's logger so that errors asynq reports while the
// runner drains make the drain fail. asynq reports failed Redis writes
// (requeue, retry, done) only through its logger.
func (r *Runner) watchAsynq(l asynq.Logger) asynq.Logger { return asynqWatch{l, &r.coord} }

type asynqWatch struct {
	asynq.Logger
	c *coordinator
}

func (w asynqWatch) Error(args ...any) {
	w.c.mu.Lock()
	if w.c.watching && len(w.c.asynqErrs) < maxAsynqErrs {
		w.c.asynqErrs = append(w.c.asynqErrs, fmt.Sprint(args...))
	}
	w.c.mu.Unlock()
	w.Logger.Error(args...)
}

func (c *coordinator) watch(on bool) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.watching = on
	return c.asynqErrs
}

// drain is the shutdown coordinator. Every step has a bound that holds
// when Redis hangs, and MaxDrain is their sum:
//
//  1. The scheduler stops (tickStopGrace). Readiness turns 503
//     "draining", Draining channels close, the tracker refuses new
//     attempts and asynq stops fetching (in the background: asynq's Stop
//     waits for a fetch in progress).
//  2. Soft phase: in-flight jobs run on until they return, the deadline
//     passes or ctx is done (ShutdownTimeout).
//  3. Hard phase: the remaining jobs' contexts are cancelled with cause
//     job.ErrShutdown; they get HardStopGrace to return, and are requeued
//     without counting an attempt.
//  4. Hand-over: the jobs whose handlers still run are marked as handed
//     over; attempts still writing their outcome to Redis are given the
//     rest of handOverTimeout, then cut short.
//  5. asynq shuts down, pushing back whatever still runs (attempt count
//     unchanged), within asynqShutdownMax; then the cleanup callbacks run
//     (CleanupTimeout) and the abandoned jobs' leases are handed over to
//     expiry (expireTimeout).
func (r *Runner) drain(ctx context.Context) error {
	r.mu.Lock()
	srv := r.srv
	r.mu.Unlock()
	if srv == nil {
		return errors.New("runner: Shutdown before Start")
	}
	if !r.draining.CompareAndSwap(false, true) {
		return errors.New("runner: already shutting down")
	}
	start := r.cfg.Now()
	r.stopScheduler() // first thing: the other replicas enqueue the next ticks
	log := r.log
	if l := zerolog.Ctx(ctx); l != zerolog.Ctx(context.Background()) {
		log = *l
	}
	r.coord.watch(true)
	inFlight := r.tracker.startDrain()
	close(r.drainCh)

	deadline := start.Add(r.cfg.ShutdownTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	log.Info().Str("event", "drain.started").Int("in_flight", len(inFlight)).Strs("task_ids", inFlight).
		Time("deadline", deadline).Int64("shutdown_timeout_ms", ms(r.cfg.ShutdownTimeout)).Int64("hard_stop_grace_ms", ms(r.cfg.HardStopGrace)).
		Msg("draining: no new jobs; in-flight jobs may finish until the deadline, then they are cancelled and requeued")
	// asynq's Stop returns once a fetch in progress does, which on a Redis
	// that hangs is the client's read timeout: it runs aside, and the
	// tracker already refuses anything fetched meanwhile.
	go srv.Stop()

	soft := time.NewTimer(deadline.Sub(r.cfg.Now()))
	defer soft.Stop()
	why := ""
	select {
	case <-r.tracker.wait():
	case <-soft.C:
		why = "deadline"
	case <-ctx.Done():
		why = "requested"
	}
	if why != "" && r.tracker.len() > 0 {
		log.Warn().Str("event", "drain.hard").Str("cause", why).Strs("task_ids", r.tracker.ids()).
			Int64("grace_ms", ms(r.cfg.HardStopGrace)).Msg("hard stop: cancelling the remaining jobs; they will be requeued")
		r.tracker.cancelAll(job.ErrShutdown)
		grace := time.NewTimer(r.cfg.HardStopGrace)
		select {
		case <-r.tracker.wait():
		case <-grace.C:
		}
		grace.Stop()
	}
	stats, gaveUp := r.tracker.endDrain()
	var abandoned, unsettled []string
	for _, e := range gaveUp {
		if e.inHandler.Load() {
			abandoned = append(abandoned, e.id)
		} else {
			unsettled = append(unsettled, e.id)
		}
	}
	if len(abandoned) > 0 {
		log.Error().Str("event", "drain.abandoned").Strs("task_ids", abandoned).
			Msg("handlers ignored cancellation: their jobs are handed over; their locks and markers keep the next run waiting until they expire")
	}
	if len(unsettled) > 0 {
		log.Error().Str("event", "drain.unsettled").Strs("task_ids", unsettled).Err(r.redisTrouble()).
			Msg("handlers returned but their outcomes are still being written to Redis, which does not answer: waiting at most the hand-over time, then they come back through asynq's lease recovery")
	}
	close(r.abandon)
	r.waitHandOvers(handOverTimeout)
	r.tail.cut() // cut short the writes still settling attempts
	asynqDone := r.shutdownAsynq(srv, asynqShutdownMax)
	r.pool.stop()
	r.stopped.Store(true)
	r.stopRenewer()
	r.health.stop()
	r.queues.shutdown()
	asynqErrs := r.coord.watch(false)
	if !asynqDone {
		asynqErrs = append(asynqErrs, fmt.Sprintf("asynq's shutdown did not end within %v (Redis not answering?): tasks it had not requeued come back through lease recovery", asynqShutdownMax))
	}

	elapsed := r.cfg.Now().Sub(start)
	requeued := stats.requeued + stats.refused + len(abandoned)
	r.metrics.drainTime.Observe(elapsed.Seconds())
	r.metrics.requeued.Add(float64(requeued))
	var err error
	if len(gaveUp) > 0 || len(asynqErrs) > 0 {
		err = &DrainError{Abandoned: abandoned, Unsettled: unsettled, AsynqErrors: asynqErrs}
	}
	e := log.Info()
	if err != nil {
		e = log.Error().Err(err)
	}
	e.Str("event", "drain.done").Bool("clean", err == nil).Int("in_flight", stats.inFlight).
		Int("finished", stats.finished).Int("requeued", requeued).Int("refused", stats.refused).
		Int("abandoned", len(abandoned)).Int("unsettled", len(unsettled)).Int64("duration_ms", ms(elapsed)).
		Msg("drain done")

	r.runCleanups(context.WithoutCancel(ctx), log)
	r.expireAbandoned(context.WithoutCancel(ctx), log, gaveUp)
	return err
}

// shutdownAsynq runs asynq's Shutdown and waits for it at most d. On a
// Redis that hangs its last writes (requeues, the server's state) each wait
// for the client's read timeout; what it had not written by then is
// recovered by asynq's lease recovery on another worker.
func (r *Runner) shutdownAsynq(srv interface{ Shutdown() }, d time.Duration) bool {
	done := make(chan struct{})
	go func() { srv.Shutdown(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// redisTrouble returns why Redis does not serve the worker, as health
// sees it, or nil.
func (r *Runner) redisTrouble() error {
	if why := r.health.notReady(); why != "" {
		return errors.New(why)
	}
	return nil
}

// AbandonedExpiry is how long the locks and in-flight markers of handlers a
// drain abandoned outlive the drain: long enough for the process to exit,
// short enough that the next run of their jobs starts within seconds
// instead of waiting out the full TTLs.
const AbandonedExpiry = time.Second

// expireAbandoned is the very last step of a drain: the process is about to
// exit, and with it the handlers the drain abandoned, so their locks and
// in-flight markers (renewed until now) are handed over to expiry in
// AbandonedExpiry. The next run of each job (asynq requeued it) waits for
// that expiry (its admission sees the marker's remaining TTL), then runs.
// A late write of a dying handler is refused by its fencing token.
func (r *Runner) expireAbandoned(ctx context.Context, log zerolog.Logger, gaveUp []*tracked) {
	if len(gaveUp) == 0 {
		return
	}
	r.renewer.Shutdown()
	ctx, cancel := context.WithTimeout(ctx, expireTimeout)
	defer cancel()
	var ids []string
	for _, e := range gaveUp {
		adm := e.admission.Load()
		if adm == nil {
			continue
		}
		for _, l := range adm.Leases() {
			if err := l.ExpireAfter(ctx, AbandonedExpiry); err != nil {
				log.Warn().Str("event", "drain.expire_failed").Str("task_id", e.id).Err(err).
					Msg("could not hand an abandoned job's lock or marker over to expiry; its next run waits for the TTL")
			}
		}
		ids = append(ids, e.id)
	}
	log.Info().Str("event", "drain.expired").Strs("task_ids", ids).Int64("expiry_ms", ms(AbandonedExpiry)).
		Msg("abandoned jobs' locks and markers expire as this process exits; their next runs start after that")
}

// Bounds of the drain's steps after the hard phase; MaxDrain adds them up.
const (
	// handOverTimeout bounds the hand-over: marking the jobs whose handlers
	// ignore cancellation, and the attempts still writing their outcomes.
	handOverTimeout = 2 * time.Second
	// asynqShutdownMax bounds asynq's shutdown: its own wait
	// (asynqShutdownTimeout) and its last writes.
	asynqShutdownMax = 2 * time.Second
	// expireTimeout bounds handing abandoned jobs' leases over to expiry.
	expireTimeout = time.Second
)

// MaxDrain returns the longest a drain of a runner with this configuration
// can take, from the first signal to the return of Shutdown, whatever
// Redis does (down, or not answering at all): the scheduler's stop (1s),
// the shutdown timeout, the hard-stop grace, the hand-over (2s), asynq's
// shutdown (2s), the cleanup callbacks (CleanupTimeout) and the expiry of
// abandoned jobs' leases (1s). A Kubernetes terminationGracePeriodSeconds
// must exceed it by a margin for signal delivery and process exit.
func (c Config) MaxDrain() time.Duration {
	c = c.withTimeouts()
	return tickStopGrace + c.ShutdownTimeout + c.HardStopGrace + handOverTimeout + asynqShutdownMax + CleanupTimeout + expireTimeout
}

// waitHandOvers waits until every processTask call has returned or handed
// its job over, at most d.
func (r *Runner) waitHandOvers(d time.Duration) {
	done := r.busy.wait()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// stopRenewer stops the lock renewal loop once no handler runs. An
// abandoned handler keeps its lock and marker renewed for as long as it
// runs in this process, so that the requeued copy of its job stays
// deferred until it really returns.
func (r *Runner) stopRenewer() {
	idle := r.tracker.wait()
	select {
	case <-idle:
		r.renewer.Shutdown()
	default:
		go func() { <-idle; r.renewer.Shutdown() }()
	}
}

// quietWait bounds how long Quiet waits for a fetch in progress: asynq's
// fetch sleeps a second when the queues are empty, and on a Redis that
// hangs it lasts the client's read timeout.
const quietWait = 2 * time.Second

// Quiet stops fetching jobs but keeps running those in flight, like
// Sidekiq's TSTP: use it ahead of a planned stop. It returns once a fetch
// in progress has ended (at most 2s; then at most that fetch's job may
// still start), so nothing enqueued afterwards starts here. It cannot be
// undone; a later Shutdown drains as usual. /readyz answers 503 "quiet"
// from then on: a worker that fetches nothing is not ready for work.
func (r *Runner) Quiet() {
	r.mu.Lock()
	srv := r.srv
	r.mu.Unlock()
	if srv == nil || r.draining.Load() {
		return
	}
	r.quiet.Store(true)
	stopped := make(chan struct{})
	go func() { srv.Stop(); close(stopped) }()
	t := time.NewTimer(quietWait)
	select {
	case <-stopped:
	case <-t.C:
	}
	t.Stop()
	r.log.Info().Str("event", "worker.quiet").Int("in_flight", r.tracker.len()).
		Msg("quiet: no new jobs; in-flight jobs run on; send SIGTERM to drain and exit")
}
