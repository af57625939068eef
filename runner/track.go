package runner

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// ErrShutdown is the cause of a job context cancelled in the hard phase of
// a drain. Such a job is requeued without counting an attempt.
var ErrShutdown = errors.New("runner: worker shutting down")

// ReasonShutdown is the deferral reason of a job cut short by a drain.
const ReasonShutdown = "shutdown"

// tracker knows the attempts in flight, so a drain can wait for them and
// cancel them.
type tracker struct {
	mu     sync.Mutex
	active map[string]context.CancelCauseFunc
	idle   chan struct{} // closed when active becomes empty; nil when idle
}

func newTracker() *tracker {
	return &tracker{active: make(map[string]context.CancelCauseFunc)}
}

func (t *tracker) add(id string, cancel context.CancelCauseFunc) {
	t.mu.Lock()
	if len(t.active) == 0 {
		t.idle = make(chan struct{})
	}
	t.active[id] = cancel
	t.mu.Unlock()
}

func (t *tracker) remove(id string) {
	t.mu.Lock()
	delete(t.active, id)
	if len(t.active) == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
	t.mu.Unlock()
}

// Len returns the number of attempts in flight.
func (t *tracker) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.active)
}

// ids returns the task IDs in flight, sorted.
func (t *tracker) ids() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.active))
	for id := range t.active {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// wait returns a channel closed when nothing is in flight.
func (t *tracker) wait() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.idle == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return t.idle
}

// cancelAll cancels every attempt in flight with cause.
func (t *tracker) cancelAll(cause error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.active {
		c(cause)
	}
}

type drainKey struct{}

// Draining returns a channel that is closed when the worker running the
// job starts to drain. A long handler can watch it, checkpoint, and return
// ErrInterrupted to be requeued without counting an attempt. Outside a
// job it returns nil (a channel that never fires).
func Draining(ctx context.Context) <-chan struct{} {
	c, _ := ctx.Value(drainKey{}).(chan struct{})
	return c
}

// track registers the attempt for the shutdown coordinator and gives it a
// context the hard phase of a drain can cancel with ErrShutdown.
func (r *Runner) track(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, a *Attempt) error {
		if r.draining.Load() {
			// Fetched in the instant the drain began: don't start it.
			return &DeferError{Reason: ReasonShutdown}
		}
		ctx, cancel := context.WithCancelCause(context.WithValue(ctx, drainKey{}, r.drainCh))
		defer cancel(nil)
		r.tracker.add(a.TaskID, cancel)
		defer r.tracker.remove(a.TaskID)
		err := next(ctx, a)
		if err != nil && errors.Is(context.Cause(ctx), ErrShutdown) {
			if _, deferred := asDeferral(err); !deferred {
				// Cut short by the drain: requeue, don't count an attempt.
				err = &DeferError{Reason: ReasonShutdown, Err: err}
			}
		}
		return err
	}
}
