package resilience_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
)

func TestCallRecordsAndRefuses(t *testing.T) {
	t.Parallel()
	bundle := setupRegistry(t, resilience.RegistryConfig{})
	ctx := t.Context()

	for range resilience.FailureThresholdDefault {
		if err := bundle.reg.Call(ctx, "payment-api", func(context.Context) error { return errBlip }); err != errBlip {
			t.Fatalf("Call = %v, want fn's error unchanged", err)
		}
	}
	ran := false
	err := bundle.reg.Call(ctx, "payment-api", func(context.Context) error { ran = true; return nil })
	var oe *resilience.OpenError
	if !errors.As(err, &oe) || oe.Dependency != "payment-api" || ran {
		t.Fatalf("Call on an open breaker = %v (ran %v), want *OpenError without running fn", err, ran)
	}
	// Other dependencies are unaffected.
	if err := bundle.reg.Call(ctx, "search", func(context.Context) error { return nil }); err != nil {
		t.Fatalf("Call(search) = %v", err)
	}
}

func TestCallNeutralErrorsDoNotCount(t *testing.T) {
	t.Parallel()
	bundle := setupRegistry(t, resilience.RegistryConfig{Default: resilience.BreakerConfig{FailureThreshold: 1}})
	ctx := t.Context()
	for _, err := range []error{job.Permanent(errBlip), neutralErr{}, errCanceled()} {
		_ = bundle.reg.Call(ctx, "dep", func(context.Context) error { return err })
	}
	wantState(t, bundle.reg.Get("dep"), resilience.StateClosed)
}

func TestCallNestedSameDependencyRecordsOnce(t *testing.T) {
	t.Parallel()
	bundle := setupRegistry(t, resilience.RegistryConfig{Default: resilience.BreakerConfig{FailureThreshold: 3}})
	ctx := t.Context()

	// The runner wraps a single-dependency job in Call; the handler calls the
	// same dependency twice through Call.
	err := bundle.reg.Call(ctx, "payment-api", func(ctx context.Context) error {
		_ = bundle.reg.Call(ctx, "payment-api", func(context.Context) error { return errBlip })
		_ = bundle.reg.Call(ctx, "search", func(context.Context) error { return errBlip })
		return bundle.reg.Call(ctx, "payment-api", func(context.Context) error { return errBlip })
	})
	if err != errBlip {
		t.Fatalf("Call = %v", err)
	}
	if got := bundle.reg.Get("payment-api").Snapshot().ConsecutiveFailures; got != 1 {
		t.Fatalf("payment-api streak = %d, want 1 (one logical call)", got)
	}
	if got := bundle.reg.Get("search").Snapshot().ConsecutiveFailures; got != 1 {
		t.Fatalf("search streak = %d, want 1", got)
	}
}

func TestCallPanicReleasesProbeSlot(t *testing.T) {
	t.Parallel()
	bundle := setupRegistry(t, resilience.RegistryConfig{Default: resilience.BreakerConfig{
		FailureThreshold: 1, HalfOpenMaxCalls: 1, SuccessThreshold: 1,
	}})
	ctx := t.Context()
	b := bundle.reg.Get("dep")
	fail(t, b, 1)
	bundle.clock.Advance(resilience.OpenTimeoutDefault)

	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic must continue")
			}
		}()
		_ = bundle.reg.Call(ctx, "dep", func(context.Context) error { panic("bug") })
	}()
	wantState(t, b, resilience.StateHalfOpen)
	if err := bundle.reg.Call(ctx, "dep", func(context.Context) error { return nil }); err != nil {
		t.Fatalf("probe after a panicking probe = %v, want admitted", err)
	}
	wantState(t, b, resilience.StateClosed)
}
