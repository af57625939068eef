package lockcoretest

import (
	"errors"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

func limited(t *testing.T, err error, rate bool) *lockcore.LimitedError {
	t.Helper()
	var le *lockcore.LimitedError
	if !errors.As(err, &le) || !errors.Is(err, lockcore.ErrLimited) || le.Rate != rate {
		t.Fatalf("err = %v, want a *LimitedError (rate %v)", err, rate)
	}
	return le
}

func testSlots(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	k := key(t, "dep")
	a, err := s.TakeSlot(ctx, k, 2, time.Second, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.TakeSlot(ctx, k, 2, time.Second, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.TakeSlot(ctx, k, 2, time.Second, "")
	if le := limited(t, err, false); le.RetryIn <= 0 || le.RetryIn > time.Second {
		t.Fatalf("RetryIn = %v, want the soonest holder's remaining lease", le.RetryIn)
	}
	// Another key has slots of its own.
	if _, err := s.TakeSlot(ctx, key(t, "other"), 1, time.Second, ""); err != nil {
		t.Fatal(err)
	}
	if r, err := a.Release(ctx); err != nil || r != lockcore.Released {
		t.Fatalf("Release = %v, %v", r, err)
	}
	c, err := s.TakeSlot(ctx, k, 2, time.Second, "")
	if err != nil {
		t.Fatalf("a released slot was not free: %v", err)
	}
	// Renewal keeps a slot; a slot nobody renews comes back at its TTL.
	if err := s.Renew(ctx, b); err != nil || b.Err() != nil {
		t.Fatalf("Renew = %v, %v", err, b.Err())
	}
	if r, err := b.Release(ctx); err != nil || r != lockcore.Released {
		t.Fatalf("Release = %v, %v", r, err)
	}
	if _, err := s.TakeSlot(ctx, k, 2, 100*time.Millisecond, ""); err != nil {
		t.Fatal(err)
	}
	_, err = s.TakeSlot(ctx, k, 2, time.Second, "")
	limited(t, err, false)
	time.Sleep(250 * time.Millisecond) // the 100ms slot's holder died
	if _, err := s.TakeSlot(ctx, k, 2, time.Second, ""); err != nil {
		t.Fatalf("an expired slot was not given back: %v", err)
	}
	_ = c
	if _, err := s.TakeSlot(ctx, k, 0, 0, ""); err == nil {
		t.Fatal("TakeSlot with 0 slots succeeded")
	}
}

func testRate(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	k := key(t, "dep")
	rate := lockcore.Rate{N: 3, Per: time.Second}
	for i := range 3 {
		if err := s.TakeRate(ctx, k, rate); err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
	}
	// Refused starts queue up: each is told a later moment, a third of a
	// second apart, not all the same one.
	var last time.Duration
	for i := range 4 {
		le := limited(t, s.TakeRate(ctx, k, rate), true)
		if le.RetryIn < last || le.RetryIn > 3*time.Second || (i > 0 && le.RetryIn-last < 300*time.Millisecond) {
			t.Fatalf("refusal %d: RetryIn %v after %v", i, le.RetryIn, last)
		}
		last = le.RetryIn
	}
	// Burst: N + Burst - 1 per window.
	kb := key(t, "burst")
	burst := lockcore.Rate{N: 2, Per: time.Minute, Burst: 3}
	for i := range 4 {
		if err := s.TakeRate(ctx, kb, burst); err != nil {
			t.Fatalf("burst start %d: %v", i, err)
		}
	}
	limited(t, s.TakeRate(ctx, kb, burst), true)
	// A window later, starts are admitted again.
	kw := key(t, "window")
	short := lockcore.Rate{N: 1, Per: 200 * time.Millisecond}
	if err := s.TakeRate(ctx, kw, short); err != nil {
		t.Fatal(err)
	}
	limited(t, s.TakeRate(ctx, kw, short), true)
	time.Sleep(300 * time.Millisecond)
	if err := s.TakeRate(ctx, kw, short); err != nil {
		t.Fatalf("after a window: %v", err)
	}
	if err := s.TakeRate(ctx, kw, lockcore.Rate{N: 0, Per: time.Second}); err == nil {
		t.Fatal("TakeRate with N 0 succeeded")
	}
}

func testRatePause(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	k := key(t, "dep")
	rate := lockcore.Rate{N: 100, Per: time.Second}
	if err := s.PauseRate(ctx, k, rate, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	le := limited(t, s.TakeRate(ctx, k, rate), true)
	if le.RetryIn < time.Second || le.RetryIn > 2*time.Second {
		t.Fatalf("RetryIn = %v during a 2s pause", le.RetryIn)
	}
	// A shorter pause does not cut a longer one short.
	if err := s.PauseRate(ctx, k, rate, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	limited(t, s.TakeRate(ctx, k, rate), true)
}

// testSlotWaiters: a refused taker is remembered, and releases hand the
// waiters out oldest first, so the caller can wake them as slots free.
func testSlotWaiters(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	k := key(t, "dep")
	a, err := s.TakeSlot(ctx, k, 1, time.Second, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"w1", "w2"} {
		_, err := s.TakeSlot(ctx, k, 1, time.Second, w)
		limited(t, err, false)
	}
	if w, err := s.ReleaseSlot(ctx, a); err != nil || w != "w1" {
		t.Fatalf("ReleaseSlot = %q, %v; want the oldest waiter w1", w, err)
	}
	b, err := s.TakeSlot(ctx, k, 1, time.Second, "")
	if err != nil {
		t.Fatal(err)
	}
	if w, err := s.ReleaseSlot(ctx, b); err != nil || w != "w2" {
		t.Fatalf("ReleaseSlot = %q, %v; want w2", w, err)
	}
	c, _ := s.TakeSlot(ctx, k, 1, time.Second, "")
	if w, err := s.ReleaseSlot(ctx, c); err != nil || w != "" {
		t.Fatalf("ReleaseSlot = %q, %v; want no waiter", w, err)
	}
}

// testInspectLimit: InspectLimit reports the holders of the slots by the
// names they were taken with, the refused takers, the rate limit's starts
// in its window, its queue of refused starts and its pause, and changes
// nothing: a slot released is no longer listed.
func testInspectLimit(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	k := key(t, "dep")
	if st, err := s.InspectLimit(ctx, k, time.Second); err != nil || st.InUse != 0 || len(st.Holders) != 0 || st.Starts != 0 {
		t.Fatalf("InspectLimit of an unused limit = %+v, %v", st, err)
	}
	a, err := s.TakeSlot(ctx, k, 2, time.Second, "q\ntask-a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.TakeSlot(ctx, k, 2, 2*time.Second, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.TakeSlot(ctx, k, 2, time.Second, "q\ntask-c")
	limited(t, err, false)
	rate := lockcore.Rate{N: 2, Per: time.Minute}
	for range 2 {
		if err := s.TakeRate(ctx, k, rate); err != nil {
			t.Fatal(err)
		}
	}
	limited(t, s.TakeRate(ctx, k, rate), true)
	if err := s.PauseRate(ctx, k, rate, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	st, err := s.InspectLimit(ctx, k, rate.Per)
	if err != nil {
		t.Fatal(err)
	}
	if st.InUse != 2 || len(st.Holders) != 2 || st.Waiting != 1 || st.Starts != 2 {
		t.Fatalf("InspectLimit = %+v; want 2 slots held, 1 waiter, 2 starts", st)
	}
	if h := st.Holders[0]; h.Holder != "q\ntask-a" || h.ExpiresIn <= 0 || h.ExpiresIn > time.Second {
		t.Errorf("first holder = %+v; want q\\ntask-a, ending within 1s", h)
	}
	if h := st.Holders[1]; h.Holder != "" || h.ExpiresIn <= time.Second || h.ExpiresIn > 2*time.Second {
		t.Errorf("second holder = %+v; want none named, ending within 2s", h)
	}
	// The refused start waits for the first start to leave the window; the
	// next one refused would wait half a window more (2 starts a window).
	if st.QueuedFor < 85*time.Second || st.QueuedFor > 90*time.Second {
		t.Errorf("QueuedFor = %v; want a window and a half", st.QueuedFor)
	}
	if st.PausedFor < 4*time.Second || st.PausedFor > 5*time.Second {
		t.Errorf("PausedFor = %v; want the 5s pause", st.PausedFor)
	}
	if _, err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
	st, err = s.InspectLimit(ctx, k, 0)
	if err != nil || st.InUse != 0 || len(st.Holders) != 0 || st.Starts != 0 {
		t.Fatalf("after the releases, without a rate: %+v, %v", st, err)
	}
	if _, err := s.InspectLimit(ctx, "", 0); err == nil {
		t.Error("InspectLimit of an empty key succeeded")
	}
}
