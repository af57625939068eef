package runner

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jobrunner/jobrunner/internal/backoff"
	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
)

// Limit caps a dependency's use across every replica of the worker.
type Limit struct {
	// Concurrency is the most jobs holding the dependency at once,
	// fleet-wide. Each holds a slot lease, renewed like a lock and given
	// back on every outcome (a SIGKILLed worker's slots come back within
	// SlotTTL). Zero means no cap.
	Concurrency int
	// SlotTTL is the lease of a concurrency slot. Defaults to 30s.
	SlotTTL time.Duration
	// Rate is the most job starts per interval, fleet-wide. A zero Rate.N
	// means no rate limit.
	Rate Rate
}

// Rate is a dependency's rate limit: at most N job starts in any window of
// one Per, plus Burst - 1 more, fleet-wide, timed by the Redis server's
// clock. A start refused is deferred to its place in the queue of refused
// starts, without spending an attempt.
type Rate struct {
	// N is the number of starts allowed per interval; at least 1.
	N int
	// Per is the interval: time.Second, time.Minute or time.Hour, or any
	// duration of at least a millisecond.
	Per time.Duration
	// Burst is how many starts beyond N-1 a window may take. Zero means 1.
	Burst int
}

// Reasons of the limit layer.
const (
	reasonRateLimited        = "rate_limited"
	reasonConcurrencyLimited = "concurrency_limited"
)

// limit is the dependency-limit layer, just inside the breaker: a job whose
// dependency has a limit takes a concurrency slot and/or a rate-limit start
// before it runs (one script each, on Redis server time). A job over a
// limit is deferred (concurrency_limited, rate_limited) without spending an
// attempt: after the time its place in the queue of refused starts says
// for a rate; for concurrency, after about the dependency's typical hold
// time as this worker has seen it, twice as long after each refusal. A
// callee that answers with a Retry-After (job.RetryAfter: a 429 or 503)
// pauses the dependency's rate limit for everyone and defers the job. When
// Redis cannot be reached the job is deferred (fail closed). Slots are
// renewed by the runner's renewal loop and released on every exit path.
// Dependencies without limits pay nothing.
func (r *Runner) limit(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, a *Attempt) (err error) {
		var limited []string
		for _, dep := range a.prepared.Dependencies {
			if _, ok := r.cfg.Limits[dep]; ok {
				limited = append(limited, dep)
			}
		}
		if len(limited) == 0 {
			return next(ctx, a)
		}
		var slots []*lockcore.Lease
		taken := r.cfg.Now()
		defer func() { r.releaseSlots(ctx, a, slots, r.cfg.Now().Sub(taken)) }()
		for _, dep := range limited {
			lim := r.cfg.Limits[dep]
			if lim.Concurrency > 0 {
				slot, err := r.store.TakeSlot(ctx, dep, lim.Concurrency, lim.SlotTTL, a.Queue+"\n"+a.TaskID)
				if err != nil {
					return r.limitRefused(ctx, a, dep, err)
				}
				slots = append(slots, slot)
			}
			if lim.Rate.N > 0 {
				if err := r.store.TakeRate(ctx, dep, lockcore.Rate(lim.Rate)); err != nil {
					return r.limitRefused(ctx, a, dep, err)
				}
			}
		}
		if len(slots) > 0 {
			var cancel context.CancelCauseFunc
			ctx, cancel = context.WithCancelCause(ctx)
			defer cancel(nil)
			untrack := r.renewer.Track(func(err error) { cancel(err) }, slots...)
			defer untrack()
		}
		for _, dep := range limited {
			r.metrics.depInFlight.WithLabelValues(dep).Inc()
		}
		defer func() {
			for _, dep := range limited {
				r.metrics.depInFlight.WithLabelValues(dep).Dec()
			}
		}()
		err = next(ctx, a)
		if err, lost := r.afterLeaseLoss(ctx, a, err); lost {
			return err
		}
		return r.slowDown(ctx, a, limited, err)
	}
}

// limitRefused turns a refusal by a limit, or a store error, into a
// deferral.
func (r *Runner) limitRefused(ctx context.Context, a *Attempt, dep string, err error) error {
	var le *lockcore.LimitedError
	if errors.As(err, &le) {
		d := &deferral{DeferError: job.DeferError{Reason: reasonConcurrencyLimited, Err: err}, Attrs: map[string]string{"dependency": dep}}
		kind := "concurrency"
		if le.Rate {
			kind = "rate"
			d.Reason = reasonRateLimited
			// Its place in the queue, plus a little jitter.
			d.After = backoff.Add(le.RetryIn, min(le.RetryIn/10, time.Second)+10*time.Millisecond, rand.Float64())
		} else {
			// A slot frees when a holder finishes: come back after about
			// the dependency's typical hold, longer after each refusal.
			hold := min(max(r.holdTime(dep), 100*time.Millisecond), 5*time.Second)
			d.grow = func(n int) time.Duration {
				w := backoff.Exponential(n-1, hold, 8*hold, 2, 1)
				return backoff.Add(w, w/2, rand.Float64())
			}
			d.After = d.grow(1)
		}
		r.metrics.depLimited.WithLabelValues(dep, kind).Inc()
		return d
	}
	if ctx.Err() != nil {
		return err
	}
	a.storeTrouble = true
	return newDeferral(reasonStoreUnavailable, jitter(time.Second), err)
}

// slowDown handles a callee's Retry-After for a job with a rate-limited
// dependency: the dependency's rate limit is paused for everyone, and the
// job is deferred rather than failed.
func (r *Runner) slowDown(ctx context.Context, a *Attempt, limited []string, err error) error {
	if err == nil || len(limited) != 1 {
		return err
	}
	if _, deferred := asDeferral(err); deferred {
		return err
	}
	d, ok := resilience.RetryAfterHint(err)
	lim := r.cfg.Limits[limited[0]]
	if !ok || lim.Rate.N == 0 || resilience.IsPermanent(err) {
		return err
	}
	d = min(d, r.cfg.MaxRetryAfter)
	pctx, cancel := r.detached(ctx, deferralTimeout)
	defer cancel()
	if perr := r.store.PauseRate(pctx, limited[0], lockcore.Rate(lim.Rate), d); perr != nil {
		r.log.Warn().Str("event", "limit.pause_failed").Str("dependency", limited[0]).Err(perr).
			Msg("could not pause the dependency's rate limit")
	}
	r.metrics.depLimited.WithLabelValues(limited[0], "retry_after").Inc()
	return &deferral{DeferError: job.DeferError{Reason: reasonRateLimited, After: jitter(d), Err: err}, Attrs: map[string]string{"dependency": limited[0]}}
}

// releaseSlots gives the job's slots back, on a detached context so that a
// cancelled job still releases, and notes how long they were held.
func (r *Runner) releaseSlots(ctx context.Context, a *Attempt, slots []*lockcore.Lease, held time.Duration) {
	if len(slots) == 0 {
		return
	}
	for _, s := range slots {
		r.noteHold(s.Key(), held)
	}
	ctx, cancel := r.detached(ctx, 5*time.Second)
	defer cancel()
	for _, s := range slots {
		waiter, err := r.store.ReleaseSlot(ctx, s)
		if err != nil {
			r.log.Warn().Str("event", "limit.release_failed").Str("task_id", a.TaskID).Str("dependency", s.Key()).Err(err).
				Msg("could not give a concurrency slot back; it comes back at its TTL")
			continue
		}
		// Wake the job that waited longest for a slot: it runs now rather
		// than at the end of its deferral. On a cluster the waiters
		// ({limit:NAME}) and the queue ({QUEUE}) are in different slots, so
		// this is a second step: a waiter popped but not woken (a crash in
		// between) comes back at the end of its deferral. One that is not waiting in the
		// retry set any more (it ran, or is still being deferred) comes
		// back on its own.
		if queue, id, ok := strings.Cut(waiter, "\n"); ok {
			r.wake(ctx, queue, id)
		}
	}
}

// holdTime returns this worker's running average of how long jobs hold
// dep's concurrency slots, or 0 before the first release.
func (r *Runner) holdTime(dep string) time.Duration {
	if v, ok := r.holds.Load(dep); ok {
		return time.Duration(v.(*atomic.Int64).Load())
	}
	return 0
}

// noteHold folds one hold into dep's average (weight 1/5).
func (r *Runner) noteHold(dep string, d time.Duration) {
	v, _ := r.holds.LoadOrStore(dep, new(atomic.Int64))
	avg := v.(*atomic.Int64)
	for {
		old := avg.Load()
		next := int64(d)
		if old > 0 {
			next = old + (int64(d)-old)/5
		}
		if avg.CompareAndSwap(old, next) {
			return
		}
	}
}
