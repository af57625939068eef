package runner

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobrunner/jobrunner/internal/jobctx"
	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/job"
)

// reasonShutdown is the deferral reason of a job put back by a drain: cut
// short in the hard phase, or fetched in the instant the drain began and
// never started.
const reasonShutdown = "shutdown"

// tracker knows the attempts in flight, so a drain can wait for them, cancel
// them and count how they ended. Once a drain has begun it admits no new
// attempt: the check and the registration happen under one lock, so an
// attempt is either refused or visible to the drain, never neither.
type tracker struct {
	mu       sync.Mutex
	active   map[*tracked]struct{}
	idle     chan struct{} // made by wait while active is not empty, closed when it empties
	draining bool          // set by startDrain; begin refuses from then on
	counting bool          // outcomes are counted into stats
	stats    drainStats
}

// tracked is one attempt in flight.
type tracked struct {
	id, queue string
	typ       string    // the job type
	attempt   int       // 1-based
	start     time.Time // when the attempt entered the chain
	progress  *progress // what job.Progress reported, read under its lock
	cancel    context.CancelCauseFunc
	abandoned bool // still running when the drain ended; guarded by tracker.mu

	// admission is what the dedupe layer admitted: the end of a drain
	// hands an abandoned attempt's leases over to expiry.
	admission atomic.Pointer[lockcore.Admission]
	// inHandler is true while the job's handler (with the middleware
	// added by Use) runs: a drain tells a handler that ignores
	// cancellation from layers still writing an outcome to Redis.
	inHandler atomic.Bool
}

// drainStats counts how the attempts of one drain ended.
type drainStats struct {
	inFlight int // attempts running when the drain began
	finished int // ended with their own outcome (done, failed, skipped, other deferrals)
	requeued int // put back by the drain: interrupted or cut short
	refused  int // fetched after the drain began; put back without running
}

func newTracker() *tracker {
	return &tracker{active: make(map[*tracked]struct{})}
}

// begin registers attempt a, or returns false if a drain has begun.
func (t *tracker) begin(a *Attempt, cancel context.CancelCauseFunc) (*tracked, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.draining {
		if t.counting {
			t.stats.refused++
		}
		return nil, false
	}
	e := &a.entry
	e.id, e.queue, e.typ, e.attempt, e.start, e.progress, e.cancel = a.TaskID, a.Queue, a.Type, a.Number(), a.Start, &a.progress, cancel
	t.active[e] = struct{}{}
	return e, true
}

// end unregisters an attempt; requeued says the drain put it back.
func (t *tracker) end(e *tracked, requeued bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.active[e]; !ok {
		return
	}
	delete(t.active, e)
	if t.counting {
		if requeued {
			t.stats.requeued++
		} else {
			t.stats.finished++
		}
	}
	if len(t.active) == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
}

// startDrain makes begin refuse attempts from now on, starts counting
// outcomes, and returns the task IDs in flight.
func (t *tracker) startDrain() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.draining, t.counting = true, true
	t.stats = drainStats{inFlight: len(t.active)}
	return t.idsLocked()
}

// endDrain stops counting and returns the counts and the attempts still
// running: those the drain abandons.
func (t *tracker) endDrain() (drainStats, []*tracked) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counting = false
	abandoned := make([]*tracked, 0, len(t.active))
	for e := range t.active {
		e.abandoned = true
		abandoned = append(abandoned, e)
	}
	slices.SortFunc(abandoned, func(a, b *tracked) int { return strings.Compare(a.id, b.id) })
	return t.stats, abandoned
}

// isAbandoned reports whether the drain gave up on e.
func (t *tracker) isAbandoned(e *tracked) bool {
	if e == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return e.abandoned
}

// len returns the number of attempts in flight.
func (t *tracker) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.active)
}

// ids returns the task IDs in flight, sorted.
func (t *tracker) ids() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.idsLocked()
}

func (t *tracker) idsLocked() []string {
	out := make([]string, 0, len(t.active))
	for e := range t.active {
		out = append(out, e.id)
	}
	slices.Sort(out)
	return out
}

// inFlight returns the attempts in flight, the oldest first. Only what
// is safe to read while they run is read: the fields set before an
// attempt is registered, and the atomics.
func (t *tracker) inFlight() []inFlightAttempt {
	t.mu.Lock()
	out := make([]inFlightAttempt, 0, len(t.active))
	for e := range t.active {
		out = append(out, inFlightAttempt{tracked: e, abandoned: e.abandoned})
	}
	t.mu.Unlock()
	for i := range out {
		out[i].admission = out[i].tracked.admission.Load()
		out[i].inHandler = out[i].tracked.inHandler.Load()
	}
	slices.SortFunc(out, func(a, b inFlightAttempt) int {
		return cmp.Or(a.start.Compare(b.start), strings.Compare(a.id, b.id))
	})
	return out
}

// inFlightAttempt is what inFlight reads of one attempt.
type inFlightAttempt struct {
	*tracked
	abandoned bool
	admission *lockcore.Admission // nil before the dedupe layer admitted it, or without one
	inHandler bool
}

// wait returns a channel closed when nothing is in flight.
func (t *tracker) wait() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.active) == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if t.idle == nil {
		t.idle = make(chan struct{}) // only when someone waits: none per attempt
	}
	return t.idle
}

// cancelAll cancels every attempt in flight with cause.
func (t *tracker) cancelAll(cause error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for e := range t.active {
		e.cancel(cause)
	}
}

// track registers the attempt with the shutdown coordinator and gives it a
// context the hard phase of a drain can cancel with job.ErrShutdown. An attempt
// that reaches it after the drain began is not started: it is deferred
// (reason "shutdown", no attempt counted) and runs on another worker.
func (r *Runner) track(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, a *Attempt) (err error) {
		a.carrier = jobctx.Carrier{Context: ctx, Attempt: handlerView{a}}
		ctx, cancel := context.WithCancelCause(&a.carrier)
		defer cancel(nil)
		e, ok := r.tracker.begin(a, cancel)
		if !ok {
			return &deferral{DeferError: job.DeferError{Reason: reasonShutdown}}
		}
		a.tracked.Store(e)
		defer func() {
			// Deferred so that a panic, recovered by observe, still
			// unregisters the attempt.
			d, deferred := asDeferral(err)
			r.tracker.end(e, deferred && (d.Reason == reasonShutdown || d.Reason == reasonInterrupted))
		}()
		err = next(ctx, a)
		if err != nil && errors.Is(context.Cause(ctx), job.ErrShutdown) {
			if _, deferred := asDeferral(err); !deferred {
				// Cut short by the drain: requeue, don't count an attempt.
				err = &deferral{DeferError: job.DeferError{Reason: reasonShutdown, Err: err}}
			}
		}
		return err
	}
}
