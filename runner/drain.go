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
	// cancelled. asynq pushed those tasks back to the head of their queues
	// with the attempt count unchanged, but it never joins the handler
	// goroutines: until the process exits, the old handler and a requeued
	// copy may overlap (the lock and in-flight marker layers keep the copy
	// from running meanwhile).
	Abandoned []string

	// AsynqErrors are the errors asynq logged during the drain, typically
	// Redis unreachable: an outcome or a requeue may not have been written.
	// Such a task stays active in Redis until asynq's lease recovery
	// retries it, one to two minutes later, with an attempt counted.
	AsynqErrors []string
}

func (e *DrainError) Error() string {
	var parts []string
	if n := len(e.Abandoned); n > 0 {
		parts = append(parts, fmt.Sprintf("%d handler(s) ignored cancellation and were requeued while still running (%s)",
			n, strings.Join(e.Abandoned, ", ")))
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

// drain is the shutdown coordinator:
//
//  1. Readiness turns 503 "draining", Draining channels close, the tracker
//     refuses new attempts and asynq stops fetching.
//  2. Soft phase: in-flight jobs run on until they return, the deadline
//     passes or ctx is done.
//  3. Hard phase: the remaining jobs' contexts are cancelled with cause
//     job.ErrShutdown; they get HardStopGrace to return, and are requeued
//     without counting an attempt.
//  4. asynq shuts down, pushing back whatever still runs (attempt count
//     unchanged), then the cleanup callbacks run.
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
	r.stopScheduler() // first thing: the other replicas enqueue the next ticks
	start := r.cfg.Now()
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
	// Stop can take a poll interval to return; the tracker already refuses
	// anything fetched meanwhile.
	srv.Stop()

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
	abandoned := make([]string, len(gaveUp))
	for i, e := range gaveUp {
		abandoned[i] = e.id
	}
	if len(abandoned) > 0 {
		log.Error().Str("event", "drain.abandoned").Strs("task_ids", abandoned).
			Msg("handlers ignored cancellation: their jobs are handed to copies that their locks and markers keep waiting")
	}
	close(r.abandon)
	r.waitHandOvers(handOverTimeout)
	srv.Shutdown()
	r.pool.stop()
	r.stopped.Store(true)
	r.stopRenewer()
	r.queues.shutdown()
	asynqErrs := r.coord.watch(false)

	elapsed := r.cfg.Now().Sub(start)
	requeued := stats.requeued + stats.refused + len(abandoned)
	r.metrics.drainTime.Observe(elapsed.Seconds())
	r.metrics.requeued.Add(float64(requeued))
	var err error
	if len(abandoned) > 0 || len(asynqErrs) > 0 {
		err = &DrainError{Abandoned: abandoned, AsynqErrors: asynqErrs}
	}
	e := log.Info()
	if err != nil {
		e = log.Error().Err(err)
	}
	e.Str("event", "drain.done").Bool("clean", err == nil).Int("in_flight", stats.inFlight).
		Int("finished", stats.finished).Int("requeued", requeued).Int("refused", stats.refused).
		Int("abandoned", len(abandoned)).Int64("duration_ms", ms(elapsed)).
		Msg("drain done")

	r.runCleanups(context.WithoutCancel(ctx), log)
	r.expireAbandoned(context.WithoutCancel(ctx), log, gaveUp)
	return err
}

// AbandonedExpiry is how long the locks and in-flight markers of handlers a
// drain abandoned outlive the drain: long enough for the process to exit,
// short enough that the copies carrying their jobs start within seconds
// instead of waiting out the full TTLs.
const AbandonedExpiry = time.Second

// expireAbandoned is the very last step of a drain: the process is about to
// exit, and with it the handlers the drain abandoned, so their locks and
// in-flight markers (renewed until now) are handed over to expiry in
// AbandonedExpiry, and their copies are run now: a copy waits for that
// expiry (its admission sees the marker's remaining TTL), then runs. A late
// write of a dying handler is refused by its fencing token.
func (r *Runner) expireAbandoned(ctx context.Context, log zerolog.Logger, gaveUp []*tracked) {
	if len(gaveUp) == 0 {
		return
	}
	r.renewer.Shutdown()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var ids []string
	for _, e := range gaveUp {
		if adm := e.admission.Load(); adm != nil {
			for _, l := range adm.Leases() {
				if err := l.ExpireAfter(ctx, AbandonedExpiry); err != nil {
					log.Warn().Str("event", "drain.expire_failed").Str("task_id", e.id).Err(err).
						Msg("could not hand an abandoned job's lock or marker over to expiry; its copy waits for the TTL")
				}
			}
		}
		if id := e.copyID.Load(); id != nil {
			r.wake(ctx, e.queue, *id) // it may have run already, or be running: then it is left alone
			ids = append(ids, *id)
		}
	}
	log.Info().Str("event", "drain.expired").Strs("copy_ids", ids).Int64("expiry_ms", ms(AbandonedExpiry)).
		Msg("abandoned jobs' locks and markers expire as this process exits; their copies run after that")
}

// handOverTimeout bounds how long a drain waits for abandoned jobs to be
// handed over before asynq's shutdown requeues whatever is left.
const handOverTimeout = 5 * time.Second

// MaxDrain returns the longest a drain of a runner with this configuration
// can take, from the first signal to the return of Shutdown: the shutdown
// timeout, the hard-stop grace, the hand-over of handlers that ignore
// cancellation (5s at most), asynq's own shutdown (250ms) and the cleanup
// callbacks (CleanupTimeout). A Kubernetes terminationGracePeriodSeconds
// must exceed it by a margin for signal delivery and process exit.
func (c Config) MaxDrain() time.Duration {
	c = c.withTimeouts()
	return c.ShutdownTimeout + c.HardStopGrace + handOverTimeout + asynqShutdownTimeout + CleanupTimeout
}

// waitHandOvers waits until every processTask call has returned.
func (r *Runner) waitHandOvers(d time.Duration) {
	done := make(chan struct{})
	go func() { r.busy.Wait(); close(done) }()
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

// Quiet stops fetching jobs but keeps running those in flight, like
// Sidekiq's TSTP: use it ahead of a planned stop. It cannot be undone; a
// later Shutdown drains as usual. /readyz answers 503 "quiet" from then on:
// a worker that fetches nothing is not ready for work.
func (r *Runner) Quiet() {
	r.mu.Lock()
	srv := r.srv
	r.mu.Unlock()
	if srv == nil || r.draining.Load() {
		return
	}
	srv.Stop()
	r.quiet.Store(true)
	r.log.Info().Str("event", "worker.quiet").Int("in_flight", r.tracker.len()).
		Msg("quiet: no new jobs; in-flight jobs run on; send SIGTERM to drain and exit")
}
