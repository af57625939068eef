package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jobrunner/jobrunner/resilience"
)

// Do retries transient errors with backoff and gives up with an
// *ExhaustedError that wraps the last error.
func ExampleDo() {
	policy := resilience.Policy{
		MaxAttempts: 4,
		Backoff:     resilience.Backoff{Base: 100 * time.Millisecond, NoJitter: true},
		// Print the waits instead of sleeping. Production code leaves Sleep
		// nil: the default waits on a timer and stops when ctx is done.
		Sleep: func(ctx context.Context, d time.Duration) error {
			fmt.Println("wait", d)
			return nil
		},
	}
	errReset := errors.New("connection reset")
	err := resilience.Do(context.Background(), policy, func(context.Context) error {
		return errReset
	})

	var exhausted *resilience.ExhaustedError
	fmt.Println(errors.As(err, &exhausted), exhausted.Attempts, errors.Is(err, errReset))
	// Output:
	// wait 100ms
	// wait 200ms
	// wait 400ms
	// true 4 true
}

// Permanent errors, cancellations and open breakers are returned at once.
func ExampleDo_permanent() {
	calls := 0
	err := resilience.Do(context.Background(), resilience.Policy{}, func(context.Context) error {
		calls++
		return resilience.Permanent(errors.New("422 invalid amount"))
	})
	fmt.Println(err, "after", calls, "call")
	// Output: 422 invalid amount after 1 call
}

// Delay without jitter shows the capped exponential ceiling; with jitter (the
// default) each delay is uniformly random between zero and that ceiling.
func ExampleBackoff_Delay() {
	b := resilience.Backoff{NoJitter: true}
	var delays []time.Duration
	for n := range 8 {
		delays = append(delays, b.Delay(n))
	}
	fmt.Println(delays)

	jittered := resilience.Backoff{}
	d := jittered.Delay(100)
	fmt.Println(d >= 0 && d <= resilience.MaxDelayDefault)
	// Output:
	// [1s 2s 4s 8s 16s 32s 1m0s 1m0s]
	// true
}

// NextDelay is the job-level retry delay: the runner returns it from asynq's
// RetryDelayFunc(n, err, task), so a failed job waits in the queue, not in a
// worker. A retry-after hint from the callee wins over the backoff.
func ExamplePolicy_NextDelay() {
	policy := resilience.Policy{
		Backoff:       resilience.Backoff{NoJitter: true},
		MaxRetryAfter: 10 * time.Minute,
	}
	retryDelay := func(retried int, err error) time.Duration {
		return policy.NextDelay(retried, err)
	}

	err503 := errors.New("503 service unavailable")
	fmt.Println(retryDelay(0, err503))
	fmt.Println(retryDelay(4, err503))
	// webhook.deliver maps an HTTP Retry-After header to the hint.
	fmt.Println(retryDelay(0, resilience.RetryAfter(errors.New("429 too many requests"), 2*time.Minute)))
	fmt.Println(retryDelay(0, resilience.RetryAfter(errors.New("429 too many requests"), 24*time.Hour)))
	// Output:
	// 1s
	// 16s
	// 2m0s
	// 10m0s
}
