package runner

import (
	"context"
	"time"
)

// Pauses between the tries of a write that settles an attempt while Redis
// is unreachable: 50ms, doubling up to 1s.
const (
	storeRetryFirst = 50 * time.Millisecond
	storeRetryPause = time.Second
)

// retryStore calls try until it reports done, pausing 50ms, then twice as
// long each time up to 1s; it gives up when the next try would come after
// deadline, when ctx ends, or when a drain abandons the jobs still running
// (a retry loop must not hold the drain). It reports whether try succeeded.
// It is the one retry loop of the writes that settle an attempt: the
// completion, the wait for Redis before asynq writes the outcome, a copy's
// enqueue.
func (r *Runner) retryStore(ctx context.Context, deadline time.Time, try func() (done bool)) bool {
	for wait := storeRetryFirst; ; wait = min(2*wait, storeRetryPause) {
		if try() {
			return true
		}
		if time.Now().Add(wait).After(deadline) || !r.pause(ctx, wait) {
			return false
		}
	}
}

// pause waits d and reports true, or reports false at once when ctx ends
// or a drain has abandoned the jobs still running (or does meanwhile).
func (r *Runner) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.abandon:
		return false
	case <-ctx.Done():
		return false
	}
}
