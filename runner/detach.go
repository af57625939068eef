package runner

import (
	"context"
	"sync/atomic"
	"time"
)

// detached returns a context for the Redis writes that settle an attempt
// (its completion, a lock or slot release, a deferral's note, a copy's
// enqueue): it is not cancelled with the attempt, so that a cancelled job
// still releases what it took, but it ends after d, and at once when a
// drain's hand-over phase ends (tail.cut), so that a Redis that hangs
// cannot hold the drain past MaxDrain.
func (r *Runner) detached(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(&tailOf{Context: r.tail.current(), values: ctx}, d)
}

// tailOf is a context cancelled with the tail (the embedded context) that
// carries the values of another (a job's: its span, its logger). The
// context package sees the tail's cancellation through Value, so a child
// of it joins the tail's children: no AfterFunc and no WithoutCancel per
// settling write.
type tailOf struct {
	context.Context
	values context.Context
}

func (t *tailOf) Value(key any) any {
	if v := t.Context.Value(key); v != nil {
		return v // the tail's own (its cancelCtx)
	}
	return t.values.Value(key)
}

// tail cuts short the settling writes in progress at one moment (the end
// of a drain's hand-over), and only those: a handler abandoned by the drain
// that returns later, in a program that goes on running, still records its
// outcome.
type tail struct {
	ctx atomic.Pointer[tailCtx]
}

type tailCtx struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (t *tail) init() {
	ctx, cancel := context.WithCancel(context.Background())
	t.ctx.Store(&tailCtx{ctx, cancel})
}

// current returns the context that the next cut cancels.
func (t *tail) current() context.Context { return t.ctx.Load().ctx }

// cut cancels the current context and starts a new one.
func (t *tail) cut() {
	old := t.ctx.Load()
	t.init()
	old.cancel()
}
