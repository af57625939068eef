// Package lockcoretest is the acceptance suite of lockcore.Store: every
// implementation must pass Run. It covers the classic lock properties
// (ownership, expiry, fencing, mutual exclusion, waiting), renewal and loss,
// the processing marker, the two-state dedupe admission and the checkpoints
// fenced by markers and locks.
//
// Each test calls newStore for a fresh store; tests use distinct keys and
// run in parallel, so a factory may hand out stores sharing one server, as
// long as they do not share keys with anything else (give each its own
// prefix). Tests sleep for real, with TTLs of a few hundred milliseconds:
// the suite takes a few seconds.
package lockcoretest

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

// Run runs the acceptance suite against the stores newStore returns.
func Run(t *testing.T, newStore func(t *testing.T) lockcore.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s lockcore.Store)
	}{
		{"AcquireRelease", testAcquireRelease},
		{"ReleaseByNonOwnerFails", testReleaseByNonOwner},
		{"ExtendAfterExpiryFails", testExtendAfterExpiry},
		{"ReleaseAfterExpiryReportsExpired", testReleaseAfterExpiry},
		{"ReleaseTwice", testReleaseTwice},
		{"WaitRunsOut", testWaitRunsOut},
		{"WaitObtainsAfterRelease", testWaitObtainsAfterRelease},
		{"AcquireHonoursContextDeadline", testAcquireContextDeadline},
		{"FencesIncreaseAcrossOwners", testFencesIncrease},
		{"MutualExclusion", testMutualExclusion},
		{"VanishedHolderBlocksOnlyUntilTTL", testVanishedHolder},
		{"LocalDeadlineClosesLost", testLocalDeadline},
		{"InvalidArguments", testInvalid},
		{"RenewerKeepsLeases", testRenewerKeeps},
		{"RenewerReportsLostMarker", testRenewerLostMarker},
		{"RenewerReportsTakenLock", testRenewerTakenLock},
		{"DedupeStates", testDedupeStates},
		{"DedupeFailureLeavesNoMarker", testDedupeFailure},
		{"DedupeWithLock", testDedupeWithLock},
		{"DedupeLockBusyHoldsNothing", testDedupeLockBusy},
		{"DedupeLockOnly", testDedupeLockOnly},
		{"DedupeWindowExpires", testDedupeWindow},
		{"DedupeMarkerExpires", testDedupeMarkerExpires},
		{"DedupeTakeoverFencesOut", testDedupeTakeoverFencesOut},
		{"CheckpointSaveLoad", testCheckpointSaveLoad},
		{"CheckpointFencedAfterTakeover", testCheckpointFencedAfterTakeover},
		{"CheckpointFencedByLock", testCheckpointFencedByLock},
		{"CheckpointDroppedOnComplete", testCheckpointDroppedOnComplete},
		{"CheckpointTTL", testCheckpointTTL},
		{"CheckpointInvalid", testCheckpointInvalid},
		{"Slots", testSlots},
		{"SlotWaiters", testSlotWaiters},
		{"Rate", testRate},
		{"RatePause", testRatePause},
		{"InspectLimit", testInspectLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// key returns a key unique to the test.
func key(t *testing.T, what string) string {
	return what + ":" + strings.ReplaceAll(t.Name(), "/", ".") + ":" + uuid.NewString()[:8]
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustAcquire(t *testing.T, s lockcore.Store, k string, ttl, wait time.Duration) *lockcore.Lease {
	t.Helper()
	l, err := s.Acquire(ctxFor(t), k, ttl, wait)
	if err != nil {
		t.Fatalf("Acquire(%q): %v", k, err)
	}
	return l
}

func mustRelease(t *testing.T, l *lockcore.Lease, want lockcore.ReleaseResult) {
	t.Helper()
	got, err := l.Release(ctxFor(t))
	if err != nil {
		t.Fatalf("Release: %v", err)
	}
	if got != want {
		t.Fatalf("Release = %v, want %v", got, want)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, within time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(within):
		t.Fatalf("%s not closed within %s", what, within)
	}
}

func wantNotObtained(t *testing.T, err error, k string) *lockcore.NotObtainedError {
	t.Helper()
	var ne *lockcore.NotObtainedError
	if !errors.As(err, &ne) || !errors.Is(err, lockcore.ErrNotObtained) {
		t.Fatalf("err = %v, want *NotObtainedError", err)
	}
	if ne.Key != k || !strings.Contains(err.Error(), k) {
		t.Fatalf("NotObtainedError names %q (%v), want %q", ne.Key, err, k)
	}
	return ne
}

func testAcquireRelease(t *testing.T, s lockcore.Store) {
	k := key(t, "lock")
	l := mustAcquire(t, s, k, time.Second, -1)
	if b, err := hex.DecodeString(l.Token()); err != nil || len(b) != 16 {
		t.Errorf("Token() = %q, want 128 random bits in 32 hex digits", l.Token())
	}
	if l.Fence() <= 0 || l.Key() != k || l.TTL() != time.Second || l.IsMarker() {
		t.Errorf("lease = fence %d key %q ttl %s marker %v", l.Fence(), l.Key(), l.TTL(), l.IsMarker())
	}
	if err := l.Extend(ctxFor(t)); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	_, err := s.Acquire(ctxFor(t), k, time.Second, -1)
	wantNotObtained(t, err, k)
	mustRelease(t, l, lockcore.Released)
	if isClosed(l.Lost()) || l.Err() != nil {
		t.Error("a released lease reports itself lost")
	}
	mustRelease(t, mustAcquire(t, s, k, time.Second, -1), lockcore.Released)

	def := mustAcquire(t, s, key(t, "lock"), 0, 0)
	if def.TTL() != lockcore.LockTTLDefault {
		t.Errorf("default TTL = %s", def.TTL())
	}
	mustRelease(t, def, lockcore.Released)
}

func testReleaseByNonOwner(t *testing.T, s lockcore.Store) {
	k := key(t, "lock")
	a := mustAcquire(t, s, k, 100*time.Millisecond, -1)
	b := mustAcquire(t, s, k, 5*time.Second, 2*time.Second) // after a expires
	mustRelease(t, a, lockcore.NotOwner)
	if !errors.Is(a.Err(), lockcore.ErrLockLost) || !isClosed(a.Lost()) {
		t.Errorf("a: Err = %v, Lost closed %v; want lost", a.Err(), isClosed(a.Lost()))
	}
	if err := a.Extend(ctxFor(t)); !errors.Is(err, lockcore.ErrLockLost) {
		t.Errorf("a.Extend = %v, want ErrLockLost", err)
	}
	if err := b.Extend(ctxFor(t)); err != nil {
		t.Fatalf("b lost its lock to a's release: %v", err)
	}
	mustRelease(t, b, lockcore.Released)
}

func testExtendAfterExpiry(t *testing.T, s lockcore.Store) {
	l := mustAcquire(t, s, key(t, "lock"), 50*time.Millisecond, -1)
	time.Sleep(120 * time.Millisecond)
	err := l.Extend(ctxFor(t))
	var le *lockcore.LostError
	if !errors.Is(err, lockcore.ErrLockLost) || !errors.As(err, &le) {
		t.Fatalf("Extend after expiry = %v, want *LostError", err)
	}
	if n, ok := err.(interface{ Neutral() bool }); !ok || !n.Neutral() {
		t.Error("lost error is not neutral")
	}
	if !isClosed(l.Lost()) {
		t.Error("Lost not closed")
	}
}

func testReleaseAfterExpiry(t *testing.T, s lockcore.Store) {
	l := mustAcquire(t, s, key(t, "lock"), 50*time.Millisecond, -1)
	time.Sleep(120 * time.Millisecond)
	mustRelease(t, l, lockcore.Expired)
}

func testReleaseTwice(t *testing.T, s lockcore.Store) {
	l := mustAcquire(t, s, key(t, "lock"), time.Second, -1)
	mustRelease(t, l, lockcore.Released)
	mustRelease(t, l, lockcore.Expired)
}

func testWaitRunsOut(t *testing.T, s lockcore.Store) {
	k := key(t, "lock")
	l := mustAcquire(t, s, k, 5*time.Second, -1)
	defer l.Release(context.Background())
	start := time.Now()
	_, err := s.Acquire(ctxFor(t), k, time.Second, 200*time.Millisecond)
	took := time.Since(start)
	ne := wantNotObtained(t, err, k)
	if ne.Wait != 200*time.Millisecond || !strings.Contains(err.Error(), "200ms") {
		t.Errorf("NotObtainedError = %v, want it to name the 200ms wait", err)
	}
	if took < 190*time.Millisecond || took > time.Second {
		t.Errorf("gave up after %s, want about 200ms", took)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Error("a wait that ran out reports a context error")
	}
}

func testWaitObtainsAfterRelease(t *testing.T, s lockcore.Store) {
	k := key(t, "lock")
	l := mustAcquire(t, s, k, 5*time.Second, -1)
	time.AfterFunc(100*time.Millisecond, func() { _, _ = l.Release(context.Background()) })
	start := time.Now()
	l2 := mustAcquire(t, s, k, time.Second, 3*time.Second)
	if took := time.Since(start); took < 90*time.Millisecond || took > 2*time.Second {
		t.Errorf("obtained after %s, want soon after the 100ms release", took)
	}
	if l2.Fence() <= l.Fence() {
		t.Errorf("fence %d after %d", l2.Fence(), l.Fence())
	}
	mustRelease(t, l2, lockcore.Released)
}

func testAcquireContextDeadline(t *testing.T, s lockcore.Store) {
	k := key(t, "lock")
	l := mustAcquire(t, s, k, 5*time.Second, -1)
	defer l.Release(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Acquire(ctx, k, time.Second, 10*time.Second)
	if took := time.Since(start); took > time.Second {
		t.Errorf("Acquire returned %s after the context's 150ms deadline", took)
	}
	wantNotObtained(t, err, k)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want it to match context.DeadlineExceeded", err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if _, err := s.Acquire(cctx, key(t, "free"), time.Second, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire on a cancelled context = %v, want context.Canceled", err)
	}
}

func testFencesIncrease(t *testing.T, s lockcore.Store) {
	k := key(t, "lock")
	var last int64
	check := func(l *lockcore.Lease) {
		t.Helper()
		if l.Fence() <= last {
			t.Fatalf("fence %d after %d", l.Fence(), last)
		}
		last = l.Fence()
	}
	for i := range 6 {
		l := mustAcquire(t, s, k, 60*time.Millisecond, 2*time.Second)
		check(l)
		if i%2 == 0 {
			mustRelease(t, l, lockcore.Released)
		} // else: abandoned, the next owner waits for expiry
	}
	a, err := s.Admit(ctxFor(t), lockcore.AdmitRequest{DedupeKey: key(t, "dd"), TaskID: "t", LockKey: k, LockWait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	check(a.Lock)
	if a.Marker.Fence() != 0 {
		t.Errorf("marker fence = %d, want 0", a.Marker.Fence())
	}
	if _, err := s.Complete(ctxFor(t), lockcore.CompleteRequest{Marker: a.Marker, Lock: a.Lock}); err != nil {
		t.Fatal(err)
	}
	check(mustAcquire(t, s, k, time.Second, -1))
}

// testMutualExclusion runs N goroutines of M critical sections each, guarded
// only by the lock. The counter is read, then written a moment later, so any
// overlap loses an update; each write is also checked against the
// resource's last fence, as a fenced resource would. The counter uses
// atomic loads and stores (not an atomic increment): a lock held through a
// network server creates no happens-before edge the race detector can see,
// so plain memory would report false races under -race, while split
// load/store still exposes every overlap as a lost update.
func testMutualExclusion(t *testing.T, s lockcore.Store) {
	const n, m = 6, 15
	k := key(t, "lock")
	var (
		counter, holders atomic.Int64
		resMu            sync.Mutex
		lastFence        int64
		wg               sync.WaitGroup
	)
	for range n {
		wg.Go(func() {
			for range m {
				l, err := s.Acquire(ctxFor(t), k, 5*time.Second, 20*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				if h := holders.Add(1); h != 1 {
					t.Errorf("%d holders at once", h)
				}
				resMu.Lock()
				if l.Fence() <= lastFence {
					t.Errorf("stale write: fence %d after %d", l.Fence(), lastFence)
				}
				lastFence = l.Fence()
				resMu.Unlock()
				v := counter.Load()
				time.Sleep(time.Millisecond)
				counter.Store(v + 1)
				holders.Add(-1)
				if r, err := l.Release(ctxFor(t)); err != nil || r != lockcore.Released {
					t.Errorf("Release = %v, %v", r, err)
				}
			}
		})
	}
	wg.Wait()
	if got := counter.Load(); got != n*m {
		t.Errorf("counter = %d, want %d: updates were lost to overlapping holders", got, n*m)
	}
}

func testVanishedHolder(t *testing.T, s lockcore.Store) {
	k := key(t, "lock")
	gone := mustAcquire(t, s, k, 300*time.Millisecond, -1) // never released
	start := time.Now()
	l := mustAcquire(t, s, k, time.Second, 3*time.Second)
	took := time.Since(start)
	if took < 250*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("obtained after %s, want about the 300ms TTL", took)
	}
	if l.Fence() <= gone.Fence() {
		t.Errorf("fence %d after %d", l.Fence(), gone.Fence())
	}
	mustRelease(t, l, lockcore.Released)
}

func testLocalDeadline(t *testing.T, s lockcore.Store) {
	start := time.Now()
	l := mustAcquire(t, s, key(t, "lock"), 200*time.Millisecond, -1)
	if d := l.Deadline(); d.After(start.Add(200*time.Millisecond)) || d.Before(start) {
		t.Errorf("Deadline %s after the start, want at most the TTL", d.Sub(start))
	}
	waitClosed(t, l.Lost(), time.Second, "Lost")
	if took := time.Since(start); took > 200*time.Millisecond+50*time.Millisecond {
		t.Errorf("Lost closed %s after acquiring, want by the TTL", took)
	}
	var le *lockcore.LostError
	if !errors.As(l.Err(), &le) || le.Reason != lockcore.LostExpired {
		t.Errorf("Err = %v, want LostExpired", l.Err())
	}
}

func testInvalid(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	if _, err := s.Acquire(ctx, "", 0, 0); err == nil {
		t.Error("Acquire with an empty key succeeded")
	}
	for _, req := range []lockcore.AdmitRequest{
		{},
		{DedupeKey: "x"},
		{DedupeKey: "x", TaskID: "t", MarkerTTL: -time.Second},
	} {
		if _, err := s.Admit(ctx, req); err == nil {
			t.Errorf("Admit(%+v) succeeded", req)
		}
	}
}
