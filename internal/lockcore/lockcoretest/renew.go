package lockcoretest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

// startRenewer starts a Renewer stopped when the test ends.
func startRenewer(t *testing.T) *lockcore.Renewer {
	r := lockcore.NewRenewer(lockcore.RenewerConfig{})
	r.Start()
	t.Cleanup(r.Shutdown)
	return r
}

// lostCause tracks leases as the runner does: a context cancelled with the
// loss as its cause.
func lostCause(t *testing.T, r *lockcore.Renewer, leases ...*lockcore.Lease) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	t.Cleanup(func() { cancel(nil) })
	untrack := r.Track(func(err error) { cancel(err) }, leases...)
	return ctx, untrack
}

func testRenewerKeeps(t *testing.T, s lockcore.Store) {
	r := startRenewer(t)
	k := key(t, "lock")
	// TTLs leave a renewal round trip 150ms (TTL/3) on a loaded machine.
	l := mustAcquire(t, s, k, 450*time.Millisecond, -1)
	a, err := s.Admit(ctxFor(t), lockcore.AdmitRequest{DedupeKey: key(t, "dd"), TaskID: "t1", MarkerTTL: 450 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, untrack := lostCause(t, r, l, a.Marker)
	time.Sleep(1400 * time.Millisecond) // three TTLs
	if ctx.Err() != nil {
		t.Fatalf("context cancelled: %v", context.Cause(ctx))
	}
	if isClosed(l.Lost()) || isClosed(a.Marker.Lost()) {
		t.Fatal("a renewed lease is lost")
	}
	if _, err := s.Acquire(ctxFor(t), k, time.Second, -1); !errors.Is(err, lockcore.ErrNotObtained) {
		t.Fatalf("renewed lock was taken: %v", err)
	}
	if b, err := s.Admit(ctxFor(t), lockcore.AdmitRequest{DedupeKey: a.Marker.Key(), TaskID: "t2"}); err != nil || b.Verdict != lockcore.InFlightElsewhere {
		t.Fatalf("renewed marker: Admit = %v, %v", b.Verdict, err)
	}
	untrack()
	untrack()
	mustRelease(t, l, lockcore.Released)
	if c, err := s.Abandon(ctxFor(t), a.Marker, nil); err != nil || c.Marker != lockcore.Released {
		t.Fatalf("Abandon = %+v, %v", c, err)
	}
	if ctx.Err() != nil {
		t.Fatal("releasing after untrack cancelled the context")
	}
}

func testRenewerLostMarker(t *testing.T, s lockcore.Store) {
	r := startRenewer(t)
	dk := key(t, "dd")
	a, err := s.Admit(ctxFor(t), lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1", MarkerTTL: 450 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, untrack := lostCause(t, r, a.Marker)
	defer untrack()
	// A redelivery of the same task takes the marker over.
	if _, err := s.Admit(ctxFor(t), lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ctx.Done(), time.Second, "context")
	cause := context.Cause(ctx)
	var le *lockcore.LostError
	if !errors.Is(cause, lockcore.ErrLockLost) || !errors.As(cause, &le) || le.Reason != lockcore.LostNotOwner || !le.Marker || le.Key != dk {
		t.Fatalf("cause = %v, want a LostNotOwner marker *LostError", cause)
	}
	if !isClosed(a.Marker.Lost()) {
		t.Fatal("Lost not closed")
	}
}

func testRenewerTakenLock(t *testing.T, s lockcore.Store) {
	r := startRenewer(t)
	k := key(t, "lock")
	l := mustAcquire(t, s, k, 90*time.Millisecond, -1)
	time.Sleep(110 * time.Millisecond) // expired, unrenewed
	other := mustAcquire(t, s, k, 5*time.Second, -1)
	defer other.Release(context.Background())
	ctx, untrack := lostCause(t, r, l)
	defer untrack()
	waitClosed(t, ctx.Done(), time.Second, "context")
	if !errors.Is(context.Cause(ctx), lockcore.ErrLockLost) {
		t.Fatalf("cause = %v", context.Cause(ctx))
	}
	if err := other.Extend(ctxFor(t)); err != nil {
		t.Fatalf("the new owner lost its lock: %v", err)
	}
}
