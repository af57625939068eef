package resilience_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
)

func TestBreakerDefaultsTripAfterFiveConsecutiveFailures(t *testing.T) {
	t.Parallel()
	bundle := setupBreaker(t, resilience.BreakerConfig{})
	b := bundle.b

	fail(t, b, 4)
	wantState(t, b, resilience.StateClosed)
	if got := b.Snapshot().ConsecutiveFailures; got != 4 {
		t.Fatalf("ConsecutiveFailures = %d, want 4", got)
	}
	fail(t, b, 1)
	wantState(t, b, resilience.StateOpen)
	if b.State() != resilience.StateOpen {
		t.Fatal("State() is not open")
	}

	oe := mustRefuse(t, b)
	if oe.Dependency != "dep" || oe.RetryAfter != resilience.OpenTimeoutDefault {
		t.Fatalf("OpenError = %+v, want dep and %s", oe, resilience.OpenTimeoutDefault)
	}
	if !errors.Is(oe, resilience.ErrOpen) {
		t.Fatal("errors.Is(OpenError, ErrOpen) = false")
	}
	if got, want := bundle.log.get(), []string{"dep:closed>open"}; !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
}

func TestBreakerSuccessResetsStreakNeutralDoesNot(t *testing.T) {
	t.Parallel()
	b := setupBreaker(t, resilience.BreakerConfig{}).b

	fail(t, b, 4)
	succeed(t, b, 1)
	fail(t, b, 4)
	wantState(t, b, resilience.StateClosed)

	// A neutral outcome neither resets nor extends the streak.
	b.Done(mustAllow(t, b), resilience.Neutral)
	if got := b.Snapshot().ConsecutiveFailures; got != 4 {
		t.Fatalf("ConsecutiveFailures after neutral = %d, want 4", got)
	}
	fail(t, b, 1)
	wantState(t, b, resilience.StateOpen)
}

func TestBreakerOpenToHalfOpenAfterTimeout(t *testing.T) {
	t.Parallel()
	bundle := setupBreaker(t, resilience.BreakerConfig{FailureThreshold: 1, OpenTimeout: 10 * time.Second})
	b, clock := bundle.b, bundle.clock

	fail(t, b, 1)
	clock.Advance(10*time.Second - time.Millisecond)
	if oe := mustRefuse(t, b); oe.RetryAfter != time.Millisecond {
		t.Fatalf("RetryAfter = %s, want 1ms", oe.RetryAfter)
	}
	if err := b.Check(); !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("Check() = %v, want ErrOpen", err)
	}
	wantState(t, b, resilience.StateOpen)

	clock.Advance(time.Millisecond)
	wantState(t, b, resilience.StateHalfOpen)
	if got, want := bundle.log.get(), []string{"dep:closed>open", "dep:open>half-open"}; !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
}

// halfOpen returns a breaker that has just turned half-open.
func halfOpen(t *testing.T, cfg resilience.BreakerConfig) *breakerBundle {
	t.Helper()
	cfg.FailureThreshold = 1
	bundle := setupBreaker(t, cfg)
	fail(t, bundle.b, 1)
	bundle.clock.Advance(bundle.b.Snapshot().RetryAfter)
	wantState(t, bundle.b, resilience.StateHalfOpen)
	return bundle
}

func TestBreakerHalfOpenAdmitsAtMostMaxCalls(t *testing.T) {
	t.Parallel()
	b := halfOpen(t, resilience.BreakerConfig{}).b

	for range resilience.HalfOpenMaxCallsDefault {
		mustAllow(t, b)
	}
	oe := mustRefuse(t, b)
	if max := resilience.OpenTimeoutDefault / 10; oe.RetryAfter <= 0 || oe.RetryAfter > max {
		t.Fatalf("half-open RetryAfter = %s, want in (0, %s]", oe.RetryAfter, max)
	}
	if err := b.Check(); !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("Check() with full slots = %v, want ErrOpen", err)
	}
	if b.State() == resilience.StateOpen {
		t.Fatal("State() = open for a half-open breaker")
	}
}

func TestBreakerCheckTakesNoSlot(t *testing.T) {
	t.Parallel()
	b := halfOpen(t, resilience.BreakerConfig{HalfOpenMaxCalls: 1, SuccessThreshold: 1}).b

	for range 10 {
		if err := b.Check(); err != nil {
			t.Fatalf("Check() = %v, want nil", err)
		}
	}
	tk := mustAllow(t, b)
	mustRefuse(t, b)
	b.Done(tk, resilience.Success)
	wantState(t, b, resilience.StateClosed)
}

func TestBreakerHalfOpenClosesAfterSuccessThreshold(t *testing.T) {
	t.Parallel()
	bundle := halfOpen(t, resilience.BreakerConfig{})
	b := bundle.b

	tickets := []resilience.Ticket{mustAllow(t, b), mustAllow(t, b), mustAllow(t, b)}
	b.Done(tickets[0], resilience.Success)
	b.Done(tickets[1], resilience.Success)
	wantState(t, b, resilience.StateHalfOpen)
	if s := b.Snapshot(); s.HalfOpenSuccesses != 2 || s.HalfOpenAdmitted != 3 {
		t.Fatalf("snapshot = %+v, want 2 successes of 3 admitted", s)
	}
	b.Done(tickets[2], resilience.Success)
	wantState(t, b, resilience.StateClosed)

	// The new closed period starts with a clean streak.
	fail(t, b, 1)
	wantState(t, b, resilience.StateOpen)
	want := []string{"dep:closed>open", "dep:open>half-open", "dep:half-open>closed", "dep:closed>open"}
	if got := bundle.log.get(); !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
}

func TestBreakerHalfOpenFailureReopens(t *testing.T) {
	t.Parallel()
	bundle := halfOpen(t, resilience.BreakerConfig{})
	b := bundle.b

	t1, t2 := mustAllow(t, b), mustAllow(t, b)
	b.Done(t1, resilience.Success)
	b.Done(t2, resilience.Failure)
	wantState(t, b, resilience.StateOpen)
	if oe := mustRefuse(t, b); oe.RetryAfter != resilience.OpenTimeoutDefault {
		t.Fatalf("RetryAfter = %s, want a fresh open period of %s", oe.RetryAfter, resilience.OpenTimeoutDefault)
	}

	// The next half-open period starts with fresh counters.
	bundle.clock.Advance(resilience.OpenTimeoutDefault)
	wantState(t, b, resilience.StateHalfOpen)
	if s := b.Snapshot(); s.HalfOpenAdmitted != 0 || s.HalfOpenSuccesses != 0 {
		t.Fatalf("fresh half-open snapshot = %+v, want zero counters", s)
	}
}

func TestBreakerNeutralProbeReleasesSlot(t *testing.T) {
	t.Parallel()
	b := halfOpen(t, resilience.BreakerConfig{}).b

	// Neutral probes, however many, never fill the half-open period.
	for range 100 {
		b.Done(mustAllow(t, b), resilience.Neutral)
	}
	t1, t2, t3 := mustAllow(t, b), mustAllow(t, b), mustAllow(t, b)
	mustRefuse(t, b)
	b.Done(t1, resilience.Neutral)
	t4 := mustAllow(t, b)
	mustRefuse(t, b)

	for _, tk := range []resilience.Ticket{t2, t3, t4} {
		b.Done(tk, resilience.Success)
	}
	wantState(t, b, resilience.StateClosed)
}

func TestBreakerRecordClassifies(t *testing.T) {
	t.Parallel()
	b := halfOpen(t, resilience.BreakerConfig{HalfOpenMaxCalls: 1, SuccessThreshold: 1}).b

	// A cancelled probe is neutral and gives its slot back.
	b.Record(mustAllow(t, b), errors.Join(errors.New("request aborted"), errCanceled()))
	b.Record(mustAllow(t, b), job.Permanent(errors.New("400 bad request")))
	b.Record(mustAllow(t, b), nil)
	wantState(t, b, resilience.StateClosed)
}

func TestBreakerStuckHalfOpenReopens(t *testing.T) {
	t.Parallel()
	bundle := halfOpen(t, resilience.BreakerConfig{OpenTimeout: 10 * time.Second, HalfOpenMaxWait: 5 * time.Second})
	b, clock := bundle.b, bundle.clock

	// Three probes are admitted and never report (lost goroutines).
	for range 3 {
		mustAllow(t, b)
	}
	clock.Advance(5*time.Second - time.Nanosecond)
	mustRefuse(t, b)
	wantState(t, b, resilience.StateHalfOpen)

	clock.Advance(time.Nanosecond)
	wantState(t, b, resilience.StateOpen)
	clock.Advance(10 * time.Second)
	wantState(t, b, resilience.StateHalfOpen)
	succeed(t, b, 3)
	wantState(t, b, resilience.StateClosed)

	want := []string{"dep:closed>open", "dep:open>half-open", "dep:half-open>open", "dep:open>half-open", "dep:half-open>closed"}
	if got := bundle.log.get(); !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
}

func TestBreakerSlowProbesAreNotStuck(t *testing.T) {
	t.Parallel()
	bundle := halfOpen(t, resilience.BreakerConfig{OpenTimeout: 10 * time.Second, HalfOpenMaxWait: 5 * time.Second})
	b, clock := bundle.b, bundle.clock

	// With free slots, a half-open period may last as long as traffic is
	// sparse: only a full set of silent probes counts as stuck.
	t1 := mustAllow(t, b)
	clock.Advance(time.Hour)
	wantState(t, b, resilience.StateHalfOpen)
	b.Done(t1, resilience.Success)
	succeed(t, b, 2)
	wantState(t, b, resilience.StateClosed)
}

func TestBreakerGenerationIgnoresStaleOutcomes(t *testing.T) {
	t.Parallel()
	bundle := setupBreaker(t, resilience.BreakerConfig{FailureThreshold: 2, HalfOpenMaxCalls: 1, SuccessThreshold: 1})
	b, clock := bundle.b, bundle.clock

	stale := mustAllow(t, b) // Admitted while closed, reports much later.
	fail(t, b, 2)
	wantState(t, b, resilience.StateOpen)
	clock.Advance(resilience.OpenTimeoutDefault)
	wantState(t, b, resilience.StateHalfOpen)

	// The stale success must not close the breaker, nor its failure reopen it.
	b.Done(stale, resilience.Success)
	b.Done(stale, resilience.Failure)
	wantState(t, b, resilience.StateHalfOpen)

	// A stale neutral must not free a slot of the new period.
	probe := mustAllow(t, b)
	b.Done(stale, resilience.Neutral)
	mustRefuse(t, b)

	// A probe admitted before Reset is ignored after it.
	b.Reset()
	wantState(t, b, resilience.StateClosed)
	b.Done(probe, resilience.Failure)
	if s := b.Snapshot(); s.State != resilience.StateClosed || s.ConsecutiveFailures != 0 {
		t.Fatalf("after stale probe failure: %+v, want closed with no streak", s)
	}

	// Reset while closed starts a new generation too.
	t1 := mustAllow(t, b)
	b.Reset()
	b.Done(t1, resilience.Failure)
	if got := b.Snapshot().ConsecutiveFailures; got != 0 {
		t.Fatalf("ConsecutiveFailures = %d after stale failure, want 0", got)
	}

	// The zero ticket belongs to no generation.
	b.Done(resilience.Ticket{}, resilience.Failure)
	b.Done(resilience.Ticket{}, resilience.Failure)
	wantState(t, b, resilience.StateClosed)
}

func TestBreakerResetFromOpen(t *testing.T) {
	t.Parallel()
	bundle := setupBreaker(t, resilience.BreakerConfig{FailureThreshold: 1})
	fail(t, bundle.b, 1)
	gen := bundle.b.Snapshot().Generation
	bundle.b.Reset()
	wantState(t, bundle.b, resilience.StateClosed)
	if got := bundle.b.Snapshot().Generation; got != gen+1 {
		t.Fatalf("Generation = %d, want %d", got, gen+1)
	}
	if got, want := bundle.log.get(), []string{"dep:closed>open", "dep:open>closed"}; !slices.Equal(got, want) {
		t.Fatalf("transitions = %v, want %v", got, want)
	}
}

func TestBreakerOpenJitter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		jitter float64
		rand   float64
		want   time.Duration
	}{
		{"low end", 0, 0, 54 * time.Second},
		{"middle", 0, 0.5, 60 * time.Second},
		{"high end", 0, 0.75, 63 * time.Second},
		{"wider", 0.5, 0, 30 * time.Second},
		{"disabled", -1, 0, 60 * time.Second},
		{"bad rand", 0.5, math.NaN(), 30 * time.Second}, // a NaN draw counts as 0: the low end
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			jitter := tt.jitter
			if jitter == 0 {
				jitter = resilience.OpenJitterDefault
			}
			b := setupBreaker(t, resilience.BreakerConfig{
				FailureThreshold: 1,
				OpenJitter:       jitter,
				Rand:             func() float64 { return tt.rand },
			}).b
			fail(t, b, 1)
			if got := mustRefuse(t, b).RetryAfter; got != tt.want {
				t.Fatalf("open period = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestBreakerCallbackMayCallBreaker(t *testing.T) {
	t.Parallel()
	var got []string
	var b *resilience.Breaker
	clock := newFakeClock()
	b, err := resilience.NewBreaker("dep", resilience.BreakerConfig{
		FailureThreshold: 1,
		OpenJitter:       -1,
		Now:              clock.Now,
		OnStateChange: func(name string, from, to resilience.State) {
			// Calling back into the breaker would deadlock if the callback
			// ran under its lock; a nested transition is delivered after
			// this callback returns, in order.
			got = append(got, from.String()+">"+to.String()+"@"+b.State().String())
			if to == resilience.StateOpen {
				b.Reset()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	fail(t, b, 1)
	want := []string{"closed>open@open", "open>closed@closed"}
	if !slices.Equal(got, want) {
		t.Fatalf("callbacks = %v, want %v", got, want)
	}
}

func TestBreakerConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg   resilience.BreakerConfig
		field string
	}{
		{resilience.BreakerConfig{Trip: 9}, "Trip"},
		{resilience.BreakerConfig{FailureThreshold: -1}, "FailureThreshold"},
		{resilience.BreakerConfig{FailureThreshold: 1 << 20}, "FailureThreshold"},
		{resilience.BreakerConfig{FailureRate: 1.5}, "FailureRate"},
		{resilience.BreakerConfig{FailureRate: math.NaN()}, "FailureRate"},
		{resilience.BreakerConfig{Window: -time.Second}, "Window"},
		{resilience.BreakerConfig{WindowBuckets: -1}, "WindowBuckets"},
		{resilience.BreakerConfig{Window: 5, WindowBuckets: 10}, "Window"},
		{resilience.BreakerConfig{MinCalls: -1}, "MinCalls"},
		{resilience.BreakerConfig{OpenTimeout: -1}, "OpenTimeout"},
		{resilience.BreakerConfig{OpenJitter: 1}, "OpenJitter"},
		{resilience.BreakerConfig{HalfOpenMaxCalls: -1}, "HalfOpenMaxCalls"},
		{resilience.BreakerConfig{HalfOpenMaxCalls: 2, SuccessThreshold: 3}, "SuccessThreshold"},
		{resilience.BreakerConfig{HalfOpenMaxWait: -1}, "HalfOpenMaxWait"},
	}
	for _, tt := range tests {
		_, err := resilience.NewBreaker("dep", tt.cfg)
		if err == nil || !strings.Contains(err.Error(), "BreakerConfig."+tt.field) {
			t.Errorf("NewBreaker(%+v) error = %v, want one naming %s", tt.cfg, err, tt.field)
		}
		if verr := tt.cfg.Validate(); (verr == nil) != (err == nil) {
			t.Errorf("Validate() = %v, NewBreaker error = %v", verr, err)
		}
	}
	if err := (resilience.BreakerConfig{}).Validate(); err != nil {
		t.Errorf("zero config: Validate() = %v", err)
	}
}

func TestStateAndOutcomeStrings(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]string{
		resilience.StateClosed.String():     "closed",
		resilience.StateHalfOpen.String():   "half-open",
		resilience.StateOpen.String():       "open",
		resilience.State(7).String():        "State(7)",
		resilience.Neutral.String():         "neutral",
		resilience.Success.String():         "success",
		resilience.Failure.String():         "failure",
		resilience.TripConsecutive.String(): "consecutive",
		resilience.TripFailureRate.String(): "failure-rate",
		resilience.Result(9).String():       "Result(9)",
		resilience.TripRule(9).String():     "TripRule(9)",
	} {
		if v != want {
			t.Errorf("got %q, want %q", v, want)
		}
	}
	if resilience.StateClosed != 0 || resilience.StateHalfOpen != 1 || resilience.StateOpen != 2 {
		t.Error("state values must match the gauge encoding 0 closed, 1 half-open, 2 open")
	}
}
