package resilience_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/resilience"
)

func rateConfig() resilience.BreakerConfig {
	return resilience.BreakerConfig{
		Trip:          resilience.TripFailureRate,
		FailureRate:   0.5,
		MinCalls:      10,
		Window:        10 * time.Second,
		WindowBuckets: 10,
	}
}

func TestBreakerFailureRateNeedsMinCalls(t *testing.T) {
	t.Parallel()
	bundle := setupBreaker(t, rateConfig())
	b := bundle.b

	fail(t, b, 9)
	wantState(t, b, resilience.StateClosed)
	if s := b.Snapshot(); s.WindowCalls != 9 || s.WindowFailures != 9 {
		t.Fatalf("window = %d/%d, want 9/9", s.WindowFailures, s.WindowCalls)
	}
	fail(t, b, 1)
	wantState(t, b, resilience.StateOpen)
}

func TestBreakerFailureRateThreshold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		successes, failures int
		want                resilience.State
	}{
		{"below rate", 6, 4, resilience.StateClosed},
		{"at rate", 5, 5, resilience.StateOpen},
		{"above rate", 2, 8, resilience.StateOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setupBreaker(t, rateConfig()).b
			succeed(t, b, tt.successes)
			fail(t, b, tt.failures)
			wantState(t, b, tt.want)
		})
	}
}

func TestBreakerFailureRateIgnoresNeutralAndStreaks(t *testing.T) {
	t.Parallel()
	b := setupBreaker(t, rateConfig()).b

	// Interleaved outcomes never form a streak but trip on the rate.
	for range 4 {
		succeed(t, b, 1)
		b.Done(mustAllow(t, b), resilience.Neutral)
		fail(t, b, 1)
	}
	succeed(t, b, 1)
	if s := b.Snapshot(); s.WindowCalls != 9 || s.WindowFailures != 4 {
		t.Fatalf("window = %d/%d, want 4/9 (neutral not counted)", s.WindowFailures, s.WindowCalls)
	}
	fail(t, b, 1)
	wantState(t, b, resilience.StateOpen)
}

func TestBreakerFailureRateForgetsOldOutcomes(t *testing.T) {
	t.Parallel()
	bundle := setupBreaker(t, rateConfig())
	b, clock := bundle.b, bundle.clock

	fail(t, b, 9)
	clock.Advance(11 * time.Second)
	fail(t, b, 1)
	wantState(t, b, resilience.StateClosed)
	if s := b.Snapshot(); s.WindowCalls != 1 {
		t.Fatalf("WindowCalls = %d, want 1", s.WindowCalls)
	}
}

func TestBreakerFailureRateFullCycle(t *testing.T) {
	t.Parallel()
	bundle := setupBreaker(t, rateConfig())
	b, clock := bundle.b, bundle.clock

	fail(t, b, 10)
	clock.Advance(resilience.OpenTimeoutDefault)
	wantState(t, b, resilience.StateHalfOpen)
	succeed(t, b, 3)
	wantState(t, b, resilience.StateClosed)

	// Closing empties the window.
	if s := b.Snapshot(); s.WindowCalls != 0 {
		t.Fatalf("WindowCalls after closing = %d, want 0", s.WindowCalls)
	}
	want := []string{"dep:closed>open", "dep:open>half-open", "dep:half-open>closed"}
	if got := bundle.log.get(); !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
}
