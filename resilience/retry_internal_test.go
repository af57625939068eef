package resilience

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/job"
)

var errInternalBlip = errors.New("blip")

func TestPolicyNextDelay(t *testing.T) {
	t.Parallel()
	p := Policy{Backoff: Backoff{NoJitter: true}, MaxRetryAfter: 10 * time.Minute}
	tests := []struct {
		retried int
		err     error
		want    time.Duration
	}{
		{0, errInternalBlip, time.Second},
		{3, errInternalBlip, 8 * time.Second},
		{100, errInternalBlip, 60 * time.Second},
		{0, job.RetryAfter(errInternalBlip, 5*time.Minute), 5 * time.Minute},
		{0, job.RetryAfter(errInternalBlip, time.Hour), 10 * time.Minute},
		{9, &OpenError{RetryAfter: 30 * time.Second}, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := p.nextDelay(tt.retried, tt.err); got != tt.want {
			t.Errorf("nextDelay(%d, %v) = %s, want %s", tt.retried, tt.err, got, tt.want)
		}
	}
}

func TestSleep(t *testing.T) {
	t.Parallel()
	if err := sleep(t.Context(), time.Millisecond); err != nil {
		t.Fatalf("sleep = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep(cancelled, 0) = %v", err)
	}
	start := time.Now()
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Fatalf("sleep(cancelled, 1h) = %v after %s", err, time.Since(start))
	}
}

func TestNextDelayDoesNotAllocate(t *testing.T) {
	p := Policy{}
	if allocs := testing.AllocsPerRun(1000, func() { _ = p.nextDelay(3, nil) }); allocs != 0 {
		t.Fatalf("nextDelay allocates %v times per call", allocs)
	}
}
