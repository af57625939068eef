package resilience_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/resilience"
)

// sharedBundle is two replicas' breakers on one key of a dedicated Redis.
type sharedBundle struct {
	srv  *redistest.Server
	a, b *resilience.SharedBreaker
}

// setupShared starts a Redis and builds two SharedBreakers named "payment-api"
// on it, each with its own client, as two replicas would.
func setupShared(t *testing.T, cfg resilience.SharedConfig) sharedBundle {
	t.Helper()
	srv := redistest.Start(t)
	newB := func() *resilience.SharedBreaker {
		b, err := resilience.NewSharedBreaker(srv.Client(), "payment-api", cfg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return sharedBundle{srv: srv, a: newB(), b: newB()}
}

// fastShared is a config with no cache, no jitter and short periods.
// fastOpen is fastShared's open period: long enough that a loaded machine's
// round trips (a Sentinel's, under -race) end well within it.
const fastOpen = time.Second

func fastShared() resilience.SharedConfig {
	return resilience.SharedConfig{
		BreakerConfig: resilience.BreakerConfig{
			FailureThreshold: 3,
			SuccessThreshold: 1,
			OpenTimeout:      fastOpen,
			OpenJitter:       -1,
		},
		ProbeTimeout: 10 * time.Second,
		CacheTTL:     -1,
	}
}

func sharedAllow(t *testing.T, b *resilience.SharedBreaker) resilience.SharedTicket {
	t.Helper()
	tk, err := b.Allow(context.Background())
	if err != nil {
		t.Fatalf("Allow: %v", err)
	}
	return tk
}

func sharedDone(t *testing.T, b *resilience.SharedBreaker, tk resilience.SharedTicket, o resilience.Result) {
	t.Helper()
	if err := b.Done(context.Background(), tk, o); err != nil {
		t.Fatalf("Done: %v", err)
	}
}

func sharedWantState(t *testing.T, b *resilience.SharedBreaker, want resilience.State) {
	t.Helper()
	got, err := b.State(context.Background())
	if err != nil || got != want {
		t.Fatalf("State() = %v, %v; want %v", got, err, want)
	}
}

func sharedWantOpen(t *testing.T, b *resilience.SharedBreaker) {
	t.Helper()
	_, err := b.Allow(context.Background())
	var oe *resilience.OpenError
	if !errors.As(err, &oe) || oe.Dependency != "payment-api" {
		t.Fatalf("Allow error = %v; want an *OpenError for payment-api", err)
	}
}

// sharedTrip opens the shared breaker through b.
func sharedTrip(t *testing.T, b *resilience.SharedBreaker, n int) {
	t.Helper()
	for range n {
		sharedDone(t, b, sharedAllow(t, b), resilience.Failure)
	}
}

func TestSharedFailuresOnOneReplicaOpenTheOther(t *testing.T) {
	t.Parallel()
	bu := setupShared(t, fastShared())
	sharedTrip(t, bu.a, 2)
	// A success on B resets the streak counted across replicas.
	sharedDone(t, bu.b, sharedAllow(t, bu.b), resilience.Success)
	sharedTrip(t, bu.a, 2)
	sharedWantState(t, bu.b, resilience.StateClosed)
	sharedTrip(t, bu.a, 1)
	sharedWantOpen(t, bu.b)
	sharedWantState(t, bu.b, resilience.StateOpen)
}

func TestSharedOneProbeClusterWide(t *testing.T) {
	t.Parallel()
	bu := setupShared(t, fastShared())
	sharedTrip(t, bu.a, 3)
	time.Sleep(fastOpen + 50*time.Millisecond)

	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		probes  []resilience.SharedTicket
		owners  []*resilience.SharedBreaker
		refused int
	)
	for _, b := range []*resilience.SharedBreaker{bu.a, bu.b, bu.a, bu.b} {
		wg.Go(func() {
			tk, err := b.Allow(context.Background())
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if !errors.Is(err, resilience.ErrOpen) {
					t.Errorf("Allow: %v", err)
				}
				refused++
				return
			}
			probes, owners = append(probes, tk), append(owners, b)
		})
	}
	wg.Wait()
	if len(probes) != 1 || refused != 3 {
		t.Fatalf("admitted %d probes, refused %d; want 1 and 3", len(probes), refused)
	}
	sharedWantState(t, bu.a, resilience.StateHalfOpen)
	sharedDone(t, owners[0], probes[0], resilience.Success)
	sharedWantState(t, bu.a, resilience.StateClosed)
	sharedWantState(t, bu.b, resilience.StateClosed)
	sharedAllow(t, bu.a)
	sharedAllow(t, bu.b)
}

func TestSharedProbeFailureReopens(t *testing.T) {
	t.Parallel()
	bu := setupShared(t, fastShared())
	sharedTrip(t, bu.a, 3)
	time.Sleep(fastOpen + 50*time.Millisecond)
	sharedDone(t, bu.b, sharedAllow(t, bu.b), resilience.Failure)
	sharedWantOpen(t, bu.a)
}

func TestSharedExpiredProbeIsRegrantedAndItsLateResultIgnored(t *testing.T) {
	t.Parallel()
	cfg := fastShared()
	cfg.ProbeTimeout = 100 * time.Millisecond
	cfg.SuccessThreshold = 2
	bu := setupShared(t, cfg)
	sharedTrip(t, bu.a, 3)
	time.Sleep(fastOpen + 50*time.Millisecond)

	stale := sharedAllow(t, bu.a) // This prober never reports in time.
	sharedWantOpen(t, bu.b)
	time.Sleep(fastOpen + 50*time.Millisecond)
	probe := sharedAllow(t, bu.b)

	// The late success of A's expired probe counts for nothing: one more
	// success by B would otherwise close the breaker.
	sharedDone(t, bu.a, stale, resilience.Success)
	sharedWantOpen(t, bu.a) // B's probe still holds the slot.
	sharedDone(t, bu.b, probe, resilience.Success)
	sharedWantState(t, bu.a, resilience.StateHalfOpen)
	// A late failure of the stale probe does not reopen the breaker either.
	sharedDone(t, bu.a, stale, resilience.Failure)
	sharedDone(t, bu.a, sharedAllow(t, bu.a), resilience.Success)
	sharedWantState(t, bu.b, resilience.StateClosed)
}

func TestSharedStaleClosedTicketIgnored(t *testing.T) {
	t.Parallel()
	bu := setupShared(t, fastShared())
	old := sharedAllow(t, bu.a)
	sharedTrip(t, bu.b, 3)
	time.Sleep(fastOpen + 50*time.Millisecond)
	sharedDone(t, bu.b, sharedAllow(t, bu.b), resilience.Success)
	sharedWantState(t, bu.a, resilience.StateClosed)
	// Failures admitted before the trip belong to an old generation.
	for range 3 {
		sharedDone(t, bu.a, old, resilience.Failure)
	}
	sharedWantState(t, bu.a, resilience.StateClosed)
}

func TestSharedCacheSavesRoundTrips(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	cfg := fastShared()
	cfg.CacheTTL = time.Minute
	cfg.Now = clock.Now
	bu := setupShared(t, cfg)
	sharedWantState(t, bu.a, resilience.StateClosed) // Fills A's cache.
	sharedTrip(t, bu.b, 3)
	// A still trusts its cached closed state...
	sharedAllow(t, bu.a)
	sharedWantState(t, bu.a, resilience.StateClosed)
	// ...until the cache expires.
	clock.Advance(time.Minute)
	sharedWantOpen(t, bu.a)
	// The open state is cached too: killing Redis changes nothing while
	// the open period, as last read, lasts.
	bu.srv.Kill()
	sharedWantOpen(t, bu.a)
}

func TestSharedRedisDownFailOpenLocal(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	cfg := fastShared()
	cfg.Now = clock.Now
	cfg.OpenTimeout = time.Minute
	bu := setupShared(t, cfg)
	sharedTrip(t, bu.a, 2)
	bu.srv.Kill()

	// The local fallback admits, and protects on local evidence alone.
	tk := sharedAllow(t, bu.a)
	if !tk.Local() {
		t.Fatal("ticket is not from the local fallback")
	}
	sharedDone(t, bu.a, tk, resilience.Failure)
	sharedTrip(t, bu.a, 2)
	sharedWantOpen(t, bu.a)
	if _, err := bu.a.State(context.Background()); err != nil {
		t.Fatalf("State within RedisRetry: %v", err)
	}

	// After RedisRetry, A goes back to Redis, which restarted empty.
	bu.srv.Restart()
	clock.Advance(resilience.RedisRetryDefault)
	tk = sharedAllow(t, bu.a)
	if tk.Local() {
		t.Fatal("ticket is still from the local fallback after Redis came back")
	}
}

func TestSharedRedisDownFailClosed(t *testing.T) {
	t.Parallel()
	cfg := fastShared()
	cfg.OnRedisError = resilience.FailClosed
	bu := setupShared(t, cfg)
	sharedAllow(t, bu.a)
	bu.srv.Kill()
	for range 2 { // Once with the Redis error, once while skipping Redis.
		_, err := bu.a.Allow(context.Background())
		var oe *resilience.OpenError
		if !errors.As(err, &oe) || oe.RetryAfter != resilience.RedisRetryDefault {
			t.Fatalf("Allow error = %v; want an *OpenError with RetryAfter %s", err, resilience.RedisRetryDefault)
		}
	}
	if s, err := bu.b.State(context.Background()); s != resilience.StateOpen || err == nil {
		t.Fatalf("State() = %v, %v; want open and an error", s, err)
	}
}

func TestSharedConfigValidation(t *testing.T) {
	t.Parallel()
	for _, cfg := range []resilience.SharedConfig{
		{BreakerConfig: resilience.BreakerConfig{FailureThreshold: -1}},
		{BreakerConfig: resilience.BreakerConfig{OpenJitter: 1}},
		{BreakerConfig: resilience.BreakerConfig{OpenTimeout: time.Microsecond}},
		{BreakerConfig: resilience.BreakerConfig{Trip: resilience.TripFailureRate}},
		{OnRedisError: 9},
	} {
		if _, err := resilience.NewSharedBreaker(nil, "x", cfg); err == nil {
			t.Errorf("NewSharedBreaker(%+v) = nil error", cfg)
		}
	}
	if _, err := resilience.NewSharedBreaker(nil, "x", resilience.SharedConfig{}); err != nil {
		t.Errorf("zero SharedConfig: %v", err)
	}
}

// TestRegistrySharedBreakers: a registry with Shared set keeps those
// dependencies' breakers in Redis, so failures recorded through one
// replica's registry open the breaker for another's, while unshared
// dependencies stay per process.
func TestRegistrySharedBreakers(t *testing.T) {
	srv := redistest.Start(t)
	newReg := func() *resilience.Registry {
		reg, err := resilience.NewRegistry(resilience.RegistryConfig{
			Default:      resilience.BreakerConfig{FailureThreshold: 2, OpenTimeout: time.Minute},
			Shared:       []string{"payment-api"},
			Redis:        srv.Client(),
			SharedConfig: resilience.SharedConfig{CacheTTL: -1},
		})
		if err != nil {
			t.Fatal(err)
		}
		return reg
	}
	a, b := newReg(), newReg()
	boom := errors.New("503")
	for range 2 {
		_ = a.Call(t.Context(), "payment-api", func(context.Context) error { return boom })
		_ = a.Call(t.Context(), "search", func(context.Context) error { return boom })
	}
	var oe *resilience.OpenError
	if err := b.Call(t.Context(), "payment-api", func(context.Context) error { return nil }); !errors.As(err, &oe) {
		t.Fatalf("the other replica's call = %v, want the shared breaker open", err)
	}
	if err := b.Check(t.Context(), "payment-api"); !errors.As(err, &oe) {
		t.Fatalf("Check = %v, want open", err)
	}
	if err := b.Call(t.Context(), "search", func(context.Context) error { return nil }); err != nil {
		t.Fatalf("an unshared dependency is per replica: %v", err)
	}
	if _, err := resilience.NewRegistry(resilience.RegistryConfig{Shared: []string{"*"}}); err == nil {
		t.Fatal("Shared without Redis accepted")
	}
}

// TestSharedTransitionsReportedByEachReplica: a shared breaker reports the
// transitions each replica sees to OnStateChange and the registry's log
// (event=breaker.transition), like a local breaker; its Snapshot, what
// the runner's jobrunner_breaker_state exports, follows without a round
// trip, half-open once the open period is over.
func TestSharedTransitionsReportedByEachReplica(t *testing.T) {
	srv := redistest.Start(t)
	type replica struct {
		reg  *resilience.Registry
		log  *transitionLog
		logs *bytes.Buffer
	}
	newReplica := func() replica {
		r := replica{log: &transitionLog{}, logs: &bytes.Buffer{}}
		var err error
		r.reg, err = resilience.NewRegistry(resilience.RegistryConfig{
			Default:       resilience.BreakerConfig{FailureThreshold: 2, SuccessThreshold: 1, OpenTimeout: 200 * time.Millisecond, OpenJitter: -1},
			Shared:        []string{"payment-api"},
			Redis:         srv.Client(),
			SharedConfig:  resilience.SharedConfig{CacheTTL: -1},
			OnStateChange: r.log.record,
			Logger:        zerolog.New(r.logs),
		})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := newReplica(), newReplica()
	state := func(r replica) resilience.State {
		for _, s := range r.reg.Snapshot() {
			if s.Dependency == "payment-api" {
				return s.State
			}
		}
		t.Fatal("no snapshot of payment-api")
		return 0
	}
	boom := errors.New("503")
	for range 2 {
		_ = a.reg.Call(t.Context(), "payment-api", func(context.Context) error { return boom })
	}
	if got := a.log.get(); !slices.Equal(got, []string{"payment-api:closed>open"}) {
		t.Fatalf("replica A reported %v", got)
	}
	if !strings.Contains(a.logs.String(), `"level":"warn","event":"breaker.transition","dependency":"payment-api","from":"closed","to":"open"`) {
		t.Fatalf("replica A's log: %s", a.logs.String())
	}
	if s := state(a); s != resilience.StateOpen {
		t.Fatalf("A's snapshot %v, want open", s)
	}
	// B learns of the trip at its next call and reports it too.
	if err := b.reg.Check(t.Context(), "payment-api"); err == nil {
		t.Fatal("B's check passed an open breaker")
	}
	if got := b.log.get(); !slices.Equal(got, []string{"payment-api:closed>open"}) {
		t.Fatalf("replica B reported %v", got)
	}
	time.Sleep(250 * time.Millisecond)
	if s := state(a); s != resilience.StateHalfOpen {
		t.Fatalf("A's snapshot after the open period %v, want half-open", s)
	}
	// B probes and closes the breaker; A sees it closed at its next call.
	if err := b.reg.Call(t.Context(), "payment-api", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := b.log.get(); !slices.Equal(got, []string{"payment-api:closed>open", "payment-api:open>half-open", "payment-api:half-open>closed"}) {
		t.Fatalf("replica B reported %v", got)
	}
	if err := a.reg.Check(t.Context(), "payment-api"); err != nil {
		t.Fatal(err)
	}
	if got := a.log.get(); !slices.Equal(got, []string{"payment-api:closed>open", "payment-api:open>closed"}) {
		t.Fatalf("replica A reported %v", got)
	}
	if s := state(a); s != resilience.StateClosed {
		t.Fatalf("A's snapshot %v, want closed", s)
	}
}
