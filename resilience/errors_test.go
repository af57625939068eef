package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
)

// markedErr implements the marker interfaces other packages use.
type markedErr struct{ neutral, permanent bool }

func (e markedErr) Error() string   { return "marked" }
func (e markedErr) Neutral() bool   { return e.neutral }
func (e markedErr) Permanent() bool { return e.permanent }

// neutralErr implements only Neutral, like the runner's lock-lost error.
type neutralErr struct{}

func (neutralErr) Error() string { return "lock lost" }
func (neutralErr) Neutral() bool { return true }

func TestClassifyAndIsRetryable(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name      string
		err       error
		outcome   resilience.Result
		retryable bool
	}{
		{"nil", nil, resilience.Success, false},
		{"plain", boom, resilience.Failure, true},
		{"wrapped plain", fmt.Errorf("call: %w", boom), resilience.Failure, true},
		{"canceled", context.Canceled, resilience.Neutral, false},
		{"wrapped canceled", errCanceled(), resilience.Neutral, false},
		{"deadline", context.DeadlineExceeded, resilience.Failure, false},
		{"permanent", job.Permanent(boom), resilience.Neutral, false},
		{"wrapped permanent", fmt.Errorf("x: %w", job.Permanent(boom)), resilience.Neutral, false},
		{"open", &resilience.OpenError{Dependency: "d", RetryAfter: time.Second}, resilience.Neutral, false},
		{"neutral marker", fmt.Errorf("job: %w", neutralErr{}), resilience.Neutral, false},
		{"permanent marker", markedErr{permanent: true}, resilience.Neutral, false},
		{"markers false", markedErr{}, resilience.Failure, true},
		{"retry-after", job.RetryAfter(boom, time.Second), resilience.Failure, true},
		{"exhausted", &resilience.ExhaustedError{Attempts: 3, Last: boom}, resilience.Failure, true},
		{"exhausted permanent", &resilience.ExhaustedError{Attempts: 1, Last: job.Permanent(boom)}, resilience.Neutral, false},
		{"joined with canceled", errors.Join(boom, context.Canceled), resilience.Neutral, false},
	}
	for _, tt := range tests {
		if got := resilience.Classify(tt.err); got != tt.outcome {
			t.Errorf("%s: Classify = %s, want %s", tt.name, got, tt.outcome)
		}
		if got := resilience.IsRetryable(tt.err); got != tt.retryable {
			t.Errorf("%s: IsRetryable = %v, want %v", tt.name, got, tt.retryable)
		}
	}
}

func TestPermanent(t *testing.T) {
	t.Parallel()
	if job.Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
	boom := errors.New("boom")
	err := job.Permanent(boom)
	if !errors.Is(err, boom) || err.Error() != "boom" || !resilience.IsPermanent(err) {
		t.Fatalf("Permanent(boom) = %v: must wrap boom, keep its message and be permanent", err)
	}
	if resilience.IsPermanent(boom) || resilience.IsPermanent(nil) {
		t.Fatal("IsPermanent of a plain error or nil = true")
	}
	// The first marker in the chain wins, so a wrapper can override.
	override := fmt.Errorf("retry anyway: %w", markedErr{permanent: false})
	if resilience.IsPermanent(override) {
		t.Fatal("IsPermanent(marker returning false) = true")
	}
}

func TestRetryAfterHint(t *testing.T) {
	t.Parallel()
	if job.RetryAfter(nil, time.Second) != nil {
		t.Fatal("RetryAfter(nil, d) != nil")
	}
	boom := errors.New("429 too many requests")
	err := fmt.Errorf("deliver: %w", job.RetryAfter(boom, 7*time.Second))
	if d, ok := resilience.RetryAfterHint(err); !ok || d != 7*time.Second {
		t.Fatalf("RetryAfterHint = %s, %v; want 7s, true", d, ok)
	}
	if !errors.Is(err, boom) {
		t.Fatal("RetryAfter must wrap the error")
	}
	if d, ok := resilience.RetryAfterHint(job.RetryAfter(boom, -time.Second)); !ok || d != 0 {
		t.Fatalf("negative hint = %s, %v; want 0, true", d, ok)
	}
	if _, ok := resilience.RetryAfterHint(boom); ok {
		t.Fatal("plain error carries a hint")
	}
	if _, ok := resilience.RetryAfterHint(nil); ok {
		t.Fatal("nil carries a hint")
	}
	open := fmt.Errorf("job: %w", &resilience.OpenError{Dependency: "payment-api", RetryAfter: 42 * time.Second})
	if d, ok := resilience.RetryAfterHint(open); !ok || d != 42*time.Second {
		t.Fatalf("OpenError hint = %s, %v; want 42s, true", d, ok)
	}
}

func TestErrorMessages(t *testing.T) {
	t.Parallel()
	oe := &resilience.OpenError{Dependency: "payment-api", RetryAfter: 30 * time.Second}
	if got, want := oe.Error(), `resilience: breaker "payment-api" is open, retry after 30s`; got != want {
		t.Errorf("OpenError = %q, want %q", got, want)
	}
	boom := errors.New("boom")
	ee := &resilience.ExhaustedError{Attempts: 3, Last: boom}
	if got, want := ee.Error(), "resilience: gave up after 3 attempts: boom"; got != want {
		t.Errorf("ExhaustedError = %q, want %q", got, want)
	}
	if errors.Unwrap(ee) != boom {
		t.Error("errors.Unwrap(ExhaustedError) must return Last")
	}
	if errors.Is(boom, resilience.ErrOpen) {
		t.Error("plain error Is ErrOpen")
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	errs := []error{
		nil,
		fmt.Errorf("call: %w", errors.New("boom")),
		errCanceled(),
		job.RetryAfter(errors.New("429"), time.Second),
		errors.Join(errors.New("a"), neutralErr{}),
	}
	for _, err := range errs {
		if n := testing.AllocsPerRun(100, func() {
			_ = resilience.Classify(err)
			_ = resilience.IsRetryable(err)
			_, _ = resilience.RetryAfterHint(err)
		}); n != 0 {
			t.Errorf("classifying %v allocates %v times", err, n)
		}
	}
}
