package runner

import (
	"context"
	"runtime/debug"
)

// chain assembles the middleware in its one documented order, outer to
// inner. A nil layer is skipped.
func (r *Runner) chain() HandlerFunc {
	layers := []Middleware{
		r.observe,  // recover, log, metrics
		r.bound,    // deferral bound
		r.track,    // shutdown tracking
		r.decode,   // strict payload decoding
		r.dedupe,   // processing-marker dedupe
		r.lock,     // distributed lock
		r.breaker,  // per-dependency circuit breaker
		r.classify, // retry classification
	}
	h := runJob
	for i := len(layers) - 1; i >= 0; i-- {
		if layers[i] != nil {
			h = layers[i](h)
		}
	}
	return h
}

// runJob is the innermost step: the job's own handler. A panic in the
// handler becomes a *PanicError here, a failed attempt like any other, so
// every layer sees it as an error and releases what it took on its normal
// path; the layers' deferred releases cover panics raised by the layers
// themselves.
func runJob(ctx context.Context, a *Attempt) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return a.Job.Run(ctx)
}
