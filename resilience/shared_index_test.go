package resilience_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/resilience"
)

// TestReadSharedStates: ReadShared reports each state as a call would find
// it, from Redis alone (a process that never made a call), and changes
// nothing: reading an open breaker whose period is over leaves the move
// to half-open, and the probe slot, to the next call.
func TestReadSharedStates(t *testing.T) {
	t.Parallel()
	bu := setupShared(t, fastShared())
	ctx := context.Background()
	rdb := bu.srv.Client()
	read := func() resilience.SharedState {
		t.Helper()
		st, err := resilience.ReadShared(ctx, rdb, []string{"payment-api"})
		if err != nil || len(st) != 1 {
			t.Fatalf("ReadShared = %v, %v", st, err)
		}
		return st[0]
	}
	if st := read(); st.Known || st.State != resilience.StateClosed || st.Failures != 0 {
		t.Fatalf("a breaker never used: %+v; want unknown and closed", st)
	}
	sharedTrip(t, bu.a, 2)
	if st := read(); !st.Known || st.State != resilience.StateClosed || st.Failures != 2 {
		t.Fatalf("after 2 failures: %+v; want closed with a streak of 2", st)
	}
	sharedTrip(t, bu.a, 1)
	if st := read(); st.State != resilience.StateOpen || st.RetryAfter <= 0 || st.RetryAfter > fastOpen {
		t.Fatalf("after 3 failures: %+v; want open for up to fastOpen", st)
	}
	time.Sleep(fastOpen + 50*time.Millisecond)
	if st := read(); st.State != resilience.StateHalfOpen || st.ProbeOut || st.RetryAfter != 0 {
		t.Fatalf("after the open period: %+v; want half-open, probe slot free", st)
	}
	tk := sharedAllow(t, bu.b) // takes the probe slot
	if st := read(); st.State != resilience.StateHalfOpen || !st.ProbeOut || st.RetryAfter <= 0 {
		t.Fatalf("with a probe out: %+v; want half-open, probe out", st)
	}
	sharedDone(t, bu.b, tk, resilience.Success)
	if st := read(); st.State != resilience.StateClosed || st.Failures != 0 {
		t.Fatalf("after a successful probe: %+v; want closed", st)
	}
}

// TestSharedIndexListsBreakersInUse: every shared breaker a registry uses
// notes its name in the index, so a reader lists the breakers of
// RegistryConfig.Shared "*" without scanning Redis; the index expires
// with the breakers' state.
func TestSharedIndexListsBreakersInUse(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	reg, err := resilience.NewRegistry(resilience.RegistryConfig{Shared: []string{"*"}, Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range []string{"a.example", "b.example"} {
		if err := reg.Call(ctx, dep, func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	names, err := resilience.SharedNames(ctx, rdb, 10)
	slices.Sort(names)
	if err != nil || !slices.Equal(names, []string{"a.example", "b.example"}) {
		t.Fatalf("SharedNames = %q, %v; want both breakers in use", names, err)
	}
	if ttl := rdb.PTTL(ctx, resilience.SharedIndexKey).Val(); ttl <= 23*time.Hour || ttl > 24*time.Hour {
		t.Errorf("index TTL %v; want a day", ttl)
	}
	for _, s := range reg.Snapshot() {
		if !s.Shared {
			t.Errorf("snapshot of %s: Shared false for a shared breaker", s.Dependency)
		}
	}
}

// TestSharedIndexBounded: the index keeps the SharedIndexMax names noted
// last; a breaker in use notes its name again every minute, so a busy one
// is not pushed out by names seen once.
func TestSharedIndexBounded(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	clock := newFakeClock()
	cfg := fastShared()
	cfg.Now = clock.Now
	busy, err := resilience.NewSharedBreaker(rdb, "busy", cfg)
	if err != nil {
		t.Fatal(err)
	}
	sharedAllow(t, busy)
	for i := range resilience.SharedIndexMax {
		clock.Advance(time.Millisecond)
		b, err := resilience.NewSharedBreaker(rdb, fmt.Sprintf("once-%d", i), cfg)
		if err != nil {
			t.Fatal(err)
		}
		sharedAllow(t, b)
		if i == resilience.SharedIndexMax/2 {
			// Within the minute: not noted again.
			sharedAllow(t, busy)
			if s := rdb.ZScore(ctx, resilience.SharedIndexKey, "busy").Val(); s != float64(clock.Now().Add(-time.Duration(i+1)*time.Millisecond).UnixMilli()) {
				t.Fatalf("busy noted again within the minute (score %v)", s)
			}
			clock.Advance(time.Minute)
			sharedAllow(t, busy)
		}
	}
	if n := rdb.ZCard(ctx, resilience.SharedIndexKey).Val(); n != resilience.SharedIndexMax {
		t.Fatalf("index holds %d names; want %d", n, resilience.SharedIndexMax)
	}
	if _, err := rdb.ZScore(ctx, resilience.SharedIndexKey, "busy").Result(); err != nil {
		t.Errorf("the breaker in use fell out of the index: %v", err)
	}
	if _, err := rdb.ZScore(ctx, resilience.SharedIndexKey, "once-0").Result(); err == nil {
		t.Error("the name noted least recently is still in the full index")
	}
	names, err := resilience.SharedNames(ctx, rdb, 5)
	if err != nil || len(names) != 5 || names[0] != fmt.Sprintf("once-%d", resilience.SharedIndexMax-1) {
		t.Errorf("SharedNames(5) = %q, %v; want the 5 noted last, newest first", names, err)
	}
}
