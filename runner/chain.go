package runner

import (
	"context"
	"errors"
	"runtime/debug"
)

// chain assembles the middleware in its one documented order, outer to
// inner, with the middleware added by Use just around the handler.
func (r *Runner) chain() HandlerFunc {
	h := recoverPanics(runJob)
	if len(r.use) > 0 {
		for i := len(r.use) - 1; i >= 0; i-- {
			h = r.use[i](h)
		}
		h = recoverPanics(h)
	}
	layers := r.layers()
	for i := len(layers) - 1; i >= 0; i-- {
		h = layers[i].wrap(h)
	}
	return h
}

// layer is one of the runner's middleware, by name.
type layer struct {
	name string
	wrap Middleware
}

// layers returns the runner's middleware, outer to inner: the one order,
// which package doc and Use's doc state (a test holds them to it).
func (r *Runner) layers() []layer {
	return []layer{
		{"observe", r.observe},   // log, metrics, last-resort recover
		{"bound", r.bound},       // deferral bound
		{"track", r.track},       // shutdown tracking
		{"decode", r.decode},     // strict payload decoding
		{"dedupe", r.dedupe},     // processing-marker dedupe
		{"lock", r.lock},         // distributed lock
		{"breaker", r.breaker},   // per-dependency circuit breaker
		{"limit", r.limit},       // per-dependency concurrency and rate limits
		{"classify", r.classify}, // retry classification
	}
}

// Use adds middleware to every job's chain, in the order given (the first
// is the outermost of them, as with asynq's mux.Use). It must be called
// before Start.
//
// Your middleware runs at one place in the runner's order (observe, bound,
// track, decode, dedupe, lock, breaker, limit, classify, then yours):
// innermost, just around the handler, after the runner has decoded the
// payload (Attempt.Payload), admitted the job under its dedupe key and lock,
// and checked its breakers and dependency limits. So it wraps exactly the
// runs of the handler — a
// deferred or skipped job never reaches it — and the context it receives
// is the job's own (job.Draining, job.Fence, job.WriteResult work in it).
// Use it for a tenant or request context taken from the task's headers, a
// span or a timer around the handler. Its errors are classified like the
// handler's; a panic in it fails the attempt like a panic in the handler.
func (r *Runner) Use(mw ...Middleware) error {
	if r.started.Load() {
		return errors.New("runner: Use after Start")
	}
	for _, m := range mw {
		if m == nil {
			return errors.New("runner: Use: nil middleware")
		}
	}
	r.use = append(r.use, mw...)
	return nil
}

// runJob is the innermost step: the job's own handler.
func runJob(ctx context.Context, a *Attempt) error { return a.prepared.Run(ctx) }

// recoverPanics turns a panic of h into a *panicError: a failed attempt
// like any other, which every layer sees as an error and releases what it
// took on its normal path. (The layers also release in deferred calls, so
// a panic in a layer itself strands nothing either; observe recovers it.)
func recoverPanics(h HandlerFunc) HandlerFunc {
	return func(ctx context.Context, a *Attempt) (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = &panicError{Value: p, Stack: debug.Stack()}
			}
		}()
		return h(ctx, a)
	}
}
