// Package jobctx carries the running attempt in a job's context: the
// runner puts it there, and package job's handler functions (Draining,
// WriteResult, Fence, Call) read it. It keeps the setter out of job's
// public surface.
package jobctx

import "context"

// Attempt is what a handler can reach of the attempt running it.
type Attempt interface {
	// Draining is closed when the worker starts to drain.
	Draining() <-chan struct{}
	// WriteResult records the job's result bytes.
	WriteResult(b []byte) error
	// Fence returns the fencing token of the job's lock, if it holds one.
	Fence() (int64, bool)
	// Call runs fn as a call to the dependency dep, guarded by its
	// circuit breaker.
	Call(ctx context.Context, dep string, fn func(context.Context) error) error
}

type key struct{}

// With returns a copy of ctx carrying a.
func With(ctx context.Context, a Attempt) context.Context { return context.WithValue(ctx, key{}, a) }

// From returns the attempt ctx carries, or nil outside a job.
func From(ctx context.Context) Attempt {
	a, _ := ctx.Value(key{}).(Attempt)
	return a
}
