package resilience

import (
	"cmp"
	"context"
	"fmt"
	"time"
)

// MaxAttemptsDefault is the default for Policy.MaxAttempts.
const MaxAttemptsDefault = 3

// Policy says how often and how patiently Do retries. The zero value is ready
// to use: 3 attempts, waits from the default Backoff (full jitter, 1s base,
// 60s cap, multiplier 2) and the default IsRetryable classification.
//
// Inline retries hold the caller (for a job, a worker slot) while they wait.
// Keep them for short blips and let the queue reschedule longer outages:
// a job's own retries follow its job-retry schedule (job.RetryLong or
// job.RetryShort), with no worker waiting.
type Policy struct {
	// MaxAttempts is the number of calls Do makes at most, counting the
	// first. 1 means no retries. Defaults to MaxAttemptsDefault (3).
	MaxAttempts int
	// Backoff computes the wait before each retry. Its zero value is the
	// default backoff.
	Backoff Backoff
	// MaxRetryAfter caps a retry-after hint carried by the error (a
	// RetryAfterError), so a callee cannot park a caller for an hour. A hint
	// replaces the computed backoff and may exceed Backoff.Max up to this
	// cap. Defaults to Backoff.Max (60s by default); a job-level policy that
	// reschedules rather than sleeps may set it higher.
	MaxRetryAfter time.Duration
	// Retryable decides whether an error is worth another attempt. It is
	// consulted only while the context is still live. Defaults to
	// IsRetryable.
	Retryable func(err error) bool
	// OnRetry, if set, is called before each wait with the number of the
	// attempt that failed (from 1), its error and the wait. Use it to count
	// retries or to log them. Defaults to nil.
	OnRetry func(attempt int, err error, delay time.Duration)
	// Sleep waits for d or until ctx is done, returning ctx.Err() in the
	// latter case. Tests inject a fake that advances a fake clock. Defaults
	// to waiting on a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now tells the time; Do uses it to skip a wait that would end after
	// the context's deadline. Defaults to time.Now.
	Now func() time.Time
}

// withDefaults returns a copy of p with every zero field set to its default.
func (p Policy) withDefaults() Policy {
	p.MaxAttempts = cmp.Or(p.MaxAttempts, MaxAttemptsDefault)
	p.Backoff = p.Backoff.withDefaults()
	p.MaxRetryAfter = cmp.Or(p.MaxRetryAfter, p.Backoff.Max)
	if p.Retryable == nil {
		p.Retryable = IsRetryable
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return p
}

// validate reports the first invalid field of a policy with defaults applied.
func (p Policy) validate() error {
	switch {
	case p.MaxAttempts < 1:
		return fmt.Errorf("resilience: Policy.MaxAttempts must be at least 1, got %d", p.MaxAttempts)
	case p.MaxRetryAfter < 0:
		return fmt.Errorf("resilience: Policy.MaxRetryAfter must not be negative, got %s", p.MaxRetryAfter)
	}
	if err := p.Backoff.validate(); err != nil {
		return fmt.Errorf("resilience: Policy.Backoff: %w", err)
	}
	return nil
}

// Validate reports whether p, with defaults applied, is usable. The error
// names the offending field. Do validates too, so call this at start-up to
// fail early.
func (p Policy) Validate() error { return p.withDefaults().validate() }

// nextDelay returns the wait before retry number retried (counting from 0)
// after err: the retry-after hint carried by err, capped by MaxRetryAfter, or
// else Backoff.Delay(retried).
func (p Policy) nextDelay(retried int, err error) time.Duration {
	p = p.withDefaults()
	if d, ok := RetryAfterHint(err); ok {
		return min(max(d, 0), max(p.MaxRetryAfter, 0))
	}
	return p.Backoff.Delay(retried)
}

// Do calls fn until it succeeds, returns an error that is not worth retrying,
// or has been called MaxAttempts times, waiting between attempts for the
// error's retry-after hint (capped by MaxRetryAfter) or else
// Backoff.Delay. It returns:
//
//   - ctx.Err() without calling fn if ctx is already done;
//   - nil as soon as fn succeeds;
//   - fn's error unchanged if it is not retryable (see IsRetryable: context
//     errors, Permanent, *OpenError, neutral errors) or if ctx is done after
//     the attempt;
//   - an *ExhaustedError wrapping the last error when the attempts are used
//     up, or when the next wait would end after ctx's deadline (waiting would
//     only burn the caller's remaining time);
//   - an error wrapping both ctx.Err() and the last error when ctx is done
//     during a wait. The wait stops promptly.
//
// An invalid policy is reported as an error before fn is called.
func Do(ctx context.Context, p Policy, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p = p.withDefaults()
	if err := p.validate(); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil, !p.Retryable(err):
			return err
		case attempt >= p.MaxAttempts:
			return &ExhaustedError{Attempts: attempt, Last: err}
		}
		d := p.nextDelay(attempt-1, err)
		if deadline, ok := ctx.Deadline(); ok && p.Now().Add(d).After(deadline) {
			return &ExhaustedError{Attempts: attempt, Last: err}
		}
		if p.OnRetry != nil {
			p.OnRetry(attempt, err, d)
		}
		if werr := p.Sleep(ctx, d); werr != nil {
			return fmt.Errorf("resilience: retry wait interrupted after %d attempts: %w (last error: %w)", attempt, werr, err)
		}
	}
}

// DoValue is Do for a function that returns a value as well: it returns the
// value of the successful attempt, or the zero value with Do's error.
func DoValue[T any](ctx context.Context, p Policy, fn func(ctx context.Context) (T, error)) (T, error) {
	var v T
	err := Do(ctx, p, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// sleep waits for d or until ctx is done, whichever comes first, and returns
// ctx.Err() in the latter case. It uses a timer that it stops on return, so a
// cancelled wait leaves nothing running. A d of zero or less only checks ctx.
// It is the default for Policy.Sleep.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
