package runner

import "context"

// chain assembles the middleware in its one documented order, outer to
// inner. A nil layer is skipped.
func (r *Runner) chain() HandlerFunc {
	layers := []Middleware{
		r.observe,  // recover, log, metrics
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

// runJob is the innermost step: the job's own handler.
func runJob(ctx context.Context, a *Attempt) error { return a.Job.Run(ctx) }
