package lockstore

import "context"

type fenceKey struct{}

// WithFence returns a copy of ctx carrying fence, the fencing token of the
// lock held for the work ctx belongs to. The runner's lock layer calls it so
// that handlers can read the token with FenceFromContext.
func WithFence(ctx context.Context, fence int64) context.Context {
	return context.WithValue(ctx, fenceKey{}, fence)
}

// FenceFromContext returns the fencing token stored by WithFence. The second
// result is false when ctx carries none, that is when the work runs without a
// lock.
//
// A protected resource accepts a write only when its fence is larger than the
// last one it saw, so a holder that paused past its lease cannot overwrite the
// work of the next holder:
//
//	UPDATE accounts SET balance = $1, fence = $2 WHERE id = $3 AND fence < $2
//
// and zero rows affected means the lease was superseded: stop, do not retry
// the write.
func FenceFromContext(ctx context.Context) (int64, bool) {
	f, ok := ctx.Value(fenceKey{}).(int64)
	return f, ok
}
