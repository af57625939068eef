package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// CleanupTimeout bounds the cleanup callbacks of a drain, all together.
// A callback that has not returned when its context expires is abandoned
// and the next one runs; each callback gets at least cleanupFloor, so a
// fast one (closing a client) still runs after a slow one used up the
// budget. Count it in the Kubernetes grace period.
const CleanupTimeout = 2 * time.Second

const cleanupFloor = 100 * time.Millisecond

// OnShutdown registers f to run after a drain, once asynq has stopped: close
// clients, flush buffers. Callbacks run one at a time in the reverse order
// of registration, like deferred calls. An error or a panic is logged
// (event=cleanup.failed) and does not fail the drain. f's context expires
// after CleanupTimeout at most; it is not cancelled by the Shutdown
// context's cancellation.
func (r *Runner) OnShutdown(f func(ctx context.Context) error) {
	r.coord.mu.Lock()
	defer r.coord.mu.Unlock()
	r.coord.cleanups = append(r.coord.cleanups, f)
}

func (r *Runner) runCleanups(ctx context.Context, log zerolog.Logger) {
	r.coord.mu.Lock()
	fs := r.coord.cleanups
	r.coord.cleanups = nil
	r.coord.mu.Unlock()
	deadline := time.Now().Add(CleanupTimeout)
	for i := len(fs) - 1; i >= 0; i-- {
		cctx, cancel := context.WithTimeout(ctx, max(time.Until(deadline), cleanupFloor))
		done := make(chan error, 1)
		go func() {
			defer func() {
				if p := recover(); p != nil {
					done <- fmt.Errorf("panic: %v", p)
				}
			}()
			done <- fs[i](cctx)
		}()
		var err error
		select {
		case err = <-done:
		case <-cctx.Done():
			err = fmt.Errorf("did not return within its time: %w", context.Cause(cctx))
		}
		cancel()
		if err != nil {
			log.Error().Str("event", "cleanup.failed").Int("callback", i).Err(r.sanitize(err)).
				Msg("shutdown cleanup callback failed; carrying on")
		}
	}
}
