// Package jobctx carries the running attempt in a job's context: the
// runner puts it there, and package job's handler functions (Draining,
// WriteResult, Fence, Call, Checkpoint, Resume, Progress, Log) read it. It
// keeps the setter out of job's public surface.
package jobctx

import (
	"context"

	"github.com/rs/zerolog"
)

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
	// Checkpoint saves b as the job's checkpoint, fenced by the job's
	// dedupe marker or lock.
	Checkpoint(ctx context.Context, b []byte) error
	// Resume returns the job's checkpoint and whether there is one.
	Resume(ctx context.Context) ([]byte, bool, error)
	// Progress records that done of total units of the job are done.
	Progress(ctx context.Context, done, total int)
	// Log returns the worker's logger with the job's fields.
	Log() *zerolog.Logger
}

type key struct{}

// With returns a copy of ctx carrying a.
func With(ctx context.Context, a Attempt) context.Context { return context.WithValue(ctx, key{}, a) }

// Carrier is a context carrying an attempt, as With returns, for a caller
// that allocates it with something it allocates anyway (the runner: with
// the attempt), where With would allocate once per job. Use a pointer to it.
type Carrier struct {
	context.Context
	Attempt Attempt
}

// Value returns the attempt for From, and otherwise what the parent holds.
func (c *Carrier) Value(k any) any {
	if k == (key{}) {
		return c.Attempt
	}
	return c.Context.Value(k)
}

// From returns the attempt ctx carries, or nil outside a job.
func From(ctx context.Context) Attempt {
	a, _ := ctx.Value(key{}).(Attempt)
	return a
}
