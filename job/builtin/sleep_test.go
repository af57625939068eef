package builtin_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/job/builtin"
)

func runSleep(ctx context.Context, t *testing.T, payload string) (time.Duration, error) {
	t.Helper()
	p, err := builtin.Sleep().Prepare([]byte(payload))
	if err != nil {
		t.Fatalf("Prepare(%s): %v", payload, err)
	}
	start := time.Now()
	err = p.Run(ctx)
	return time.Since(start), err
}

func TestSleepHonoursCancel(t *testing.T) {
	t.Parallel()
	cause := errors.New("stop now")
	ctx, cancel := context.WithCancelCause(context.Background())
	time.AfterFunc(20*time.Millisecond, func() { cancel(cause) })
	took, err := runSleep(ctx, t, `{"ms":2000}`)
	if !errors.Is(err, cause) {
		t.Errorf("err = %v, want the context's cause", err)
	}
	if took > time.Second {
		t.Errorf("took %v after cancellation, want an early return", took)
	}
}

func TestSleepIgnoreCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	took, err := runSleep(ctx, t, `{"ms":300,"ignore_cancel":true}`)
	if err != nil {
		t.Errorf("err = %v, want nil: ignore_cancel sleeps the full time", err)
	}
	if took < 300*time.Millisecond {
		t.Errorf("took %v, want the full 300ms despite cancellation", took)
	}
}

func TestSleepIgnoreCancelStillFails(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := runSleep(ctx, t, `{"ms":10,"ignore_cancel":true,"fail":"transient"}`)
	if !errors.Is(err, builtin.ErrDrill) {
		t.Errorf("err = %v, want ErrDrill", err)
	}
}
