package lockcore

import (
	"cmp"
	"context"
	"math/rand/v2"
	"time"

	jitter "github.com/jobrunner/jobrunner/internal/backoff"
)

// backoff computes the pauses between attempts on a busy lock: exponential
// from min to max, with equal jitter (half fixed, half random) so waiters
// spread out. It holds per-acquisition state: build one per call.
type backoff struct {
	min, max time.Duration
	n        int
}

func newBackoff(lo, hi time.Duration) *backoff {
	lo = cmp.Or(lo, RetryMinDefault)
	hi = max(cmp.Or(hi, RetryMaxDefault), lo)
	return &backoff{min: lo, max: hi}
}

// next returns the next pause. hint, when positive, is the busy lock's
// remaining TTL: there is no point sleeping much longer than that.
func (b *backoff) next(hint time.Duration) time.Duration {
	d := jitter.Exponential(b.n, b.min, b.max, 2, 1) // the ceiling
	b.n++
	d = jitter.Add(d/2, d/2, rand.Float64())
	if hint > 0 && hint < d {
		d = jitter.Add(hint, b.min, rand.Float64())
	}
	return d
}

// attempt makes one try. settled is true when the try got its final answer
// (granted, or an answer that is not "busy"); hint is the busy lock's
// remaining TTL when known.
type attempt func(ctx context.Context) (settled bool, hint time.Duration, err error)

// retryBusy calls try until it settles, fails, the wait runs out or ctx
// ends, pausing with b between tries. It never sleeps past the wait: the
// last try happens when the wait runs out.
func retryBusy(ctx context.Context, key string, wait time.Duration, b *backoff, try attempt) error {
	start := time.Now()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if ctx.Err() != nil {
			return &NotObtainedError{Key: key, Wait: max(wait, 0), Err: context.Cause(ctx)}
		}
		settled, hint, err := try(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return &NotObtainedError{Key: key, Wait: max(wait, 0), Err: context.Cause(ctx)}
			}
			return err
		}
		if settled {
			return nil
		}
		left := wait - time.Since(start)
		if wait < 0 || left <= 0 {
			return &NotObtainedError{Key: key, Wait: max(wait, 0)}
		}
		d := min(b.next(hint), left)
		if timer == nil {
			timer = time.NewTimer(d)
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return &NotObtainedError{Key: key, Wait: wait, Err: context.Cause(ctx)}
		case <-timer.C:
		}
	}
}
