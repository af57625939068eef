package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
)

// manualClock is a Clock the example moves by hand.
type manualClock struct{ now time.Time }

func (c *manualClock) Now() time.Time { return c.now }

// A breaker opens after five consecutive failures, refuses calls with an
// *OpenError telling when to come back, and closes again after three
// successful probes.
func ExampleBreaker() {
	clock := &manualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	b, err := resilience.NewBreaker("payment-api", resilience.BreakerConfig{
		OpenJitter: -1, // Exact open periods, so the output is stable.
		Now:        clock.Now,
		OnStateChange: func(dep string, from, to resilience.State) {
			fmt.Printf("%s: %s -> %s\n", dep, from, to)
		},
	})
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	call := func(err error) error {
		return b.Call(ctx, func(context.Context) error { return err })
	}

	for range 5 {
		_ = call(errors.New("503 service unavailable"))
	}
	err = call(nil)
	var open *resilience.OpenError
	if errors.As(err, &open) {
		fmt.Printf("refused: retry %s after %s\n", open.Dependency, open.RetryAfter)
	}

	clock.now = clock.now.Add(open.RetryAfter)
	for range 3 {
		_ = call(nil)
	}
	fmt.Println("state:", b.State())
	// Output:
	// payment-api: closed -> open
	// refused: retry payment-api after 1m0s
	// payment-api: open -> half-open
	// payment-api: half-open -> closed
	// state: closed
}

// A Registry owns one breaker per dependency. Its Call records each call's
// result and refuses calls while the breaker is open.
func ExampleRegistry_Call() {
	reg, err := resilience.NewRegistry(resilience.RegistryConfig{
		Default: resilience.BreakerConfig{FailureThreshold: 2},
		Dependencies: map[string]resilience.BreakerConfig{
			// Only what differs from Default.
			"search": {Trip: resilience.TripFailureRate, MinCalls: 50},
		},
		OnStateChange: func(dep string, from, to resilience.State) {
			fmt.Printf("metrics: %s %s -> %s\n", dep, from, to)
		},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	charge := func(context.Context) error { return errors.New("connection refused") }
	for range 3 {
		err := reg.Call(ctx, "payment-api", charge)
		var open *resilience.OpenError
		if errors.As(err, &open) {
			// The open period is 60s ± 10% jitter: about a minute.
			fmt.Printf("deferred: %s open for about %s\n", open.Dependency, open.RetryAfter.Round(time.Minute))
			continue
		}
		fmt.Println(err)
	}
	// Invalid requests are the caller's fault: neutral for the breaker.
	err = reg.Call(ctx, "search", func(context.Context) error {
		return job.Permanent(errors.New("400 bad query"))
	})
	fmt.Println(err, "| search is", reg.Get("search").State())
	// Output:
	// connection refused
	// metrics: payment-api closed -> open
	// connection refused
	// deferred: payment-api open for about 1m0s
	// 400 bad query | search is closed
}
