package resilience_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jobrunner/jobrunner/resilience"
)

func TestCallWithoutRegistryJustRuns(t *testing.T) {
	t.Parallel()
	if resilience.RegistryFrom(t.Context()) != nil {
		t.Fatal("RegistryFrom(empty ctx) != nil")
	}
	ran := false
	err := resilience.Call(t.Context(), "dep", func(context.Context) error { ran = true; return errBlip })
	if !ran || err != errBlip {
		t.Fatalf("Call = %v, ran = %v", err, ran)
	}
}

func TestCallRecordsAndRefuses(t *testing.T) {
	t.Parallel()
	bundle := setupRegistry(t, resilience.RegistryConfig{})
	ctx := resilience.WithRegistry(t.Context(), bundle.reg)
	if resilience.RegistryFrom(ctx) != bundle.reg {
		t.Fatal("RegistryFrom does not return the registry")
	}

	for range resilience.FailureThresholdDefault {
		if err := resilience.Call(ctx, "payment-api", func(context.Context) error { return errBlip }); err != errBlip {
			t.Fatalf("Call = %v, want fn's error unchanged", err)
		}
	}
	ran := false
	err := resilience.Call(ctx, "payment-api", func(context.Context) error { ran = true; return nil })
	var oe *resilience.OpenError
	if !errors.As(err, &oe) || oe.Dependency != "payment-api" || ran {
		t.Fatalf("Call on an open breaker = %v (ran %v), want *OpenError without running fn", err, ran)
	}
	// Other dependencies are unaffected.
	if err := resilience.Call(ctx, "search", func(context.Context) error { return nil }); err != nil {
		t.Fatalf("Call(search) = %v", err)
	}
}

func TestCallNeutralErrorsDoNotCount(t *testing.T) {
	t.Parallel()
	bundle := setupRegistry(t, resilience.RegistryConfig{Default: resilience.BreakerConfig{FailureThreshold: 1}})
	ctx := resilience.WithRegistry(t.Context(), bundle.reg)
	for _, err := range []error{resilience.Permanent(errBlip), neutralErr{}, errCanceled()} {
		_ = resilience.Call(ctx, "dep", func(context.Context) error { return err })
	}
	wantState(t, bundle.reg.Get("dep"), resilience.StateClosed)
}

func TestCallNestedSameDependencyRecordsOnce(t *testing.T) {
	t.Parallel()
	bundle := setupRegistry(t, resilience.RegistryConfig{Default: resilience.BreakerConfig{FailureThreshold: 3}})
	ctx := resilience.WithRegistry(t.Context(), bundle.reg)

	// The runner wraps a single-dependency job in Call; the handler calls the
	// same dependency twice through Call.
	err := resilience.Call(ctx, "payment-api", func(ctx context.Context) error {
		_ = resilience.Call(ctx, "payment-api", func(context.Context) error { return errBlip })
		_ = resilience.Call(ctx, "search", func(context.Context) error { return errBlip })
		return resilience.Call(ctx, "payment-api", func(context.Context) error { return errBlip })
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
	ctx := resilience.WithRegistry(t.Context(), bundle.reg)
	b := bundle.reg.Get("dep")
	fail(t, b, 1)
	bundle.clock.Advance(resilience.OpenTimeoutDefault)

	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic must continue")
			}
		}()
		_ = resilience.Call(ctx, "dep", func(context.Context) error { panic("bug") })
	}()
	wantState(t, b, resilience.StateHalfOpen)
	if err := resilience.Call(ctx, "dep", func(context.Context) error { return nil }); err != nil {
		t.Fatalf("probe after a panicking probe = %v, want admitted", err)
	}
	wantState(t, b, resilience.StateClosed)
}

func TestCallValue(t *testing.T) {
	t.Parallel()
	bundle := setupRegistry(t, resilience.RegistryConfig{})
	ctx := resilience.WithRegistry(t.Context(), bundle.reg)
	v, err := resilience.CallValue(ctx, "dep", func(context.Context) (string, error) { return "ok", nil })
	if v != "ok" || err != nil {
		t.Fatalf("CallValue = %q, %v", v, err)
	}
}
