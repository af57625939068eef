package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jobrunner/jobrunner/job"
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
		return job.Permanent(errors.New("422 invalid amount"))
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
