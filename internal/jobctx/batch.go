package jobctx

import (
	"context"

	"github.com/jobrunner/jobrunner/internal/batchdb"
)

// BatchReader reads the status of the batch whose callback runs.
type BatchReader func(ctx context.Context) (batchdb.Status, error)

type batchKey struct{}

// WithBatch returns a copy of ctx carrying read, for the callback of a
// batch.
func WithBatch(ctx context.Context, read BatchReader) context.Context {
	return context.WithValue(ctx, batchKey{}, read)
}

// Batch returns the reader ctx carries, or nil outside a batch's callback.
func Batch(ctx context.Context) BatchReader {
	r, _ := ctx.Value(batchKey{}).(BatchReader)
	return r
}
