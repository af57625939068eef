package resilience_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
)

// retryBundle is a policy wired to a fake clock, with exact delays.
type retryBundle struct {
	clock  *fakeClock
	policy resilience.Policy
}

func setupRetry(t *testing.T) *retryBundle {
	t.Helper()
	clock := newFakeClock()
	return &retryBundle{
		clock: clock,
		policy: resilience.Policy{
			Backoff: resilience.Backoff{NoJitter: true},
			Sleep:   clock.Sleep,
			Now:     clock.Now,
		},
	}
}

// failing returns a function failing with errs in turn, then succeeding, and
// a pointer to its call count.
func failing(errs ...error) (func(context.Context) error, *int) {
	calls := 0
	return func(context.Context) error {
		calls++
		if calls <= len(errs) {
			return errs[calls-1]
		}
		return nil
	}, &calls
}

var errBlip = errors.New("connection reset")

func TestDoAlreadyCancelledRunsNothing(t *testing.T) {
	t.Parallel()
	bundle := setupRetry(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	fn, calls := failing()
	if err := resilience.Do(ctx, bundle.policy, fn); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
	if *calls != 0 {
		t.Fatalf("fn called %d times, want 0", *calls)
	}
}

func TestDoRetriesUntilSuccess(t *testing.T) {
	t.Parallel()
	bundle := setupRetry(t)
	var retries []int
	bundle.policy.OnRetry = func(attempt int, err error, d time.Duration) {
		if !errors.Is(err, errBlip) {
			t.Errorf("OnRetry err = %v", err)
		}
		retries = append(retries, attempt)
	}
	fn, calls := failing(errBlip, errBlip)
	if err := resilience.Do(t.Context(), bundle.policy, fn); err != nil {
		t.Fatalf("Do = %v, want nil", err)
	}
	if *calls != 3 {
		t.Fatalf("calls = %d, want 3", *calls)
	}
	if got, want := bundle.clock.Sleeps(), []time.Duration{time.Second, 2 * time.Second}; !slices.Equal(got, want) {
		t.Fatalf("sleeps = %v, want %v", got, want)
	}
	if !slices.Equal(retries, []int{1, 2}) {
		t.Fatalf("OnRetry attempts = %v, want [1 2]", retries)
	}
}

func TestDoExhausted(t *testing.T) {
	t.Parallel()
	bundle := setupRetry(t)
	last := errors.New("last blip")
	fn, calls := failing(errBlip, errBlip, last, errBlip)
	err := resilience.Do(t.Context(), bundle.policy, fn)
	var ee *resilience.ExhaustedError
	if !errors.As(err, &ee) || ee.Attempts != 3 || ee.Last != last {
		t.Fatalf("Do = %v, want ExhaustedError{3, last}", err)
	}
	if errors.Unwrap(err) != last || !errors.Is(err, last) {
		t.Fatal("errors.Unwrap must reach the last error")
	}
	if *calls != 3 || len(bundle.clock.Sleeps()) != 2 {
		t.Fatalf("calls = %d, sleeps = %v; want 3 calls and 2 sleeps", *calls, bundle.clock.Sleeps())
	}
}

func TestDoDoesNotRetry(t *testing.T) {
	t.Parallel()
	tests := map[string]error{
		"permanent":        job.Permanent(errors.New("422 invalid")),
		"permanent marker": markedErr{permanent: true},
		"neutral marker":   neutralErr{},
		"canceled":         errCanceled(),
		"deadline":         context.DeadlineExceeded,
		"breaker open":     &resilience.OpenError{Dependency: "d", RetryAfter: time.Minute},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bundle := setupRetry(t)
			fn, calls := failing(want, errBlip)
			if err := resilience.Do(t.Context(), bundle.policy, fn); err != want {
				t.Fatalf("Do = %v, want the error unchanged: %v", err, want)
			}
			if *calls != 1 || len(bundle.clock.Sleeps()) != 0 {
				t.Fatalf("calls = %d, sleeps = %v; want 1 call, no sleep", *calls, bundle.clock.Sleeps())
			}
		})
	}
}

func TestDoCustomRetryable(t *testing.T) {
	t.Parallel()
	bundle := setupRetry(t)
	bundle.policy.Retryable = func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }
	fn, calls := failing(context.DeadlineExceeded, errBlip)
	if err := resilience.Do(t.Context(), bundle.policy, fn); err != errBlip {
		t.Fatalf("Do = %v, want errBlip", err)
	}
	if *calls != 2 {
		t.Fatalf("calls = %d, want 2", *calls)
	}
}

func TestDoHonoursRetryAfterHint(t *testing.T) {
	t.Parallel()
	bundle := setupRetry(t)
	bundle.policy.MaxAttempts = 4
	fn, _ := failing(
		job.RetryAfter(errBlip, 5*time.Second),
		job.RetryAfter(errBlip, time.Hour), // Capped at MaxRetryAfter = Backoff.Max.
		errBlip,
	)
	if err := resilience.Do(t.Context(), bundle.policy, fn); err != nil {
		t.Fatalf("Do = %v", err)
	}
	want := []time.Duration{5 * time.Second, resilience.MaxDelayDefault, 4 * time.Second}
	if got := bundle.clock.Sleeps(); !slices.Equal(got, want) {
		t.Fatalf("sleeps = %v, want %v", got, want)
	}
}

func TestDoStopsBeforeAWaitPastTheDeadline(t *testing.T) {
	t.Parallel()
	bundle := setupRetry(t)
	bundle.clock.now = time.Now() // The context's deadline is on the real clock.
	bundle.policy.Backoff = resilience.Backoff{Base: 30 * time.Minute, Max: 2 * time.Hour, NoJitter: true}
	ctx, cancel := context.WithDeadline(t.Context(), bundle.clock.Now().Add(time.Hour))
	defer cancel()
	fn, calls := failing(errBlip, errBlip, errBlip)
	err := resilience.Do(ctx, bundle.policy, fn)
	var ee *resilience.ExhaustedError
	if !errors.As(err, &ee) || ee.Attempts != 2 {
		t.Fatalf("Do = %v, want ExhaustedError after 2 attempts (a 30m wait fits, then 1h does not)", err)
	}
	if *calls != 2 {
		t.Fatalf("calls = %d, want 2", *calls)
	}
	if got, want := bundle.clock.Sleeps(), []time.Duration{30 * time.Minute}; !slices.Equal(got, want) {
		t.Fatalf("sleeps = %v, want %v", got, want)
	}
}

func TestDoCancellationStopsWaitPromptly(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	p := resilience.Policy{Backoff: resilience.Backoff{Base: time.Hour, Max: time.Hour, NoJitter: true}}
	calls := 0
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	err := resilience.Do(ctx, p, func(context.Context) error {
		calls++
		return errBlip
	})
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("Do returned after %s, want promptly after cancellation", elapsed)
	}
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errBlip) {
		t.Fatalf("Do = %v, want an error matching both context.Canceled and the last error", err)
	}
	if resilience.IsRetryable(err) || resilience.Classify(err) != resilience.Neutral {
		t.Fatal("an interrupted retry must be neither retryable nor a breaker failure")
	}
	if calls != 1 {
		t.Fatalf("calls = %d, want 1", calls)
	}
}

func TestDoCancelledDuringAttemptReturnsItsError(t *testing.T) {
	t.Parallel()
	bundle := setupRetry(t)
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	err := resilience.Do(ctx, bundle.policy, func(context.Context) error {
		calls++
		cancel()
		return errBlip
	})
	if err != errBlip || calls != 1 {
		t.Fatalf("Do = %v after %d calls, want errBlip after 1", err, calls)
	}
}

func TestDoInvalidPolicy(t *testing.T) {
	t.Parallel()
	fn, calls := failing()
	err := resilience.Do(t.Context(), resilience.Policy{MaxAttempts: -1}, fn)
	if err == nil || !strings.Contains(err.Error(), "Policy.MaxAttempts") || *calls != 0 {
		t.Fatalf("Do = %v after %d calls, want a MaxAttempts error and no call", err, *calls)
	}
	err = resilience.Policy{Backoff: resilience.Backoff{Multiplier: 0.1}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "Policy.Backoff") || !strings.Contains(err.Error(), "Multiplier") {
		t.Fatalf("Validate = %v, want a Policy.Backoff Multiplier error", err)
	}
	if err := (resilience.Policy{MaxRetryAfter: -1}).Validate(); err == nil || !strings.Contains(err.Error(), "MaxRetryAfter") {
		t.Fatalf("Validate = %v, want a MaxRetryAfter error", err)
	}
	if err := (resilience.Policy{}).Validate(); err != nil {
		t.Fatalf("zero Policy: Validate = %v", err)
	}
}

func TestDoValueAndWrap(t *testing.T) {
	t.Parallel()
	bundle := setupRetry(t)
	n := 0
	v, err := resilience.DoValue(t.Context(), bundle.policy, func(context.Context) (int, error) {
		n++
		if n < 2 {
			return -1, errBlip
		}
		return 42, nil
	})
	if v != 42 || err != nil {
		t.Fatalf("DoValue = %d, %v; want 42, nil", v, err)
	}
	v, err = resilience.DoValue(t.Context(), bundle.policy, func(context.Context) (int, error) {
		return 7, job.Permanent(errBlip)
	})
	if v != 0 || !errors.Is(err, errBlip) {
		t.Fatalf("DoValue = %d, %v; want 0 and the error", v, err)
	}
}
