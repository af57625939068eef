package resilience_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/resilience"
)

// registryBundle is a registry under test with its collaborators.
type registryBundle struct {
	clock *fakeClock
	log   *transitionLog
	out   *syncBuffer
	reg   *resilience.Registry
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func setupRegistry(t *testing.T, cfg resilience.RegistryConfig) *registryBundle {
	t.Helper()
	bundle := &registryBundle{clock: newFakeClock(), log: &transitionLog{}, out: &syncBuffer{}}
	if cfg.Default.Now == nil {
		cfg.Default.Now = bundle.clock.Now
	}
	if cfg.Default.OpenJitter == 0 {
		cfg.Default.OpenJitter = -1
	}
	cfg.OnStateChange = bundle.log.record
	cfg.Logger = zerolog.New(bundle.out)
	reg, err := resilience.NewRegistry(cfg)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	bundle.reg = reg
	return bundle
}

func TestRegistryGetReturnsOneBreakerPerDependency(t *testing.T) {
	t.Parallel()
	reg := setupRegistry(t, resilience.RegistryConfig{}).reg

	if _, ok := reg.Lookup("a"); ok {
		t.Fatal("Lookup found a breaker before Get")
	}
	const goroutines = 32
	got := make([][3]*resilience.Breaker, goroutines)
	parallel(goroutines, func(i int) {
		got[i] = [3]*resilience.Breaker{reg.Get("a"), reg.Get("b"), reg.Get("c")}
	})
	for i := range got {
		if got[i] != got[0] {
			t.Fatalf("goroutine %d got different breakers", i)
		}
	}
	if got[0][0].Name() != "a" || got[0][0] == got[0][1] {
		t.Fatal("breakers must be named after and distinct per dependency")
	}
	if b, ok := reg.Lookup("b"); !ok || b != got[0][1] {
		t.Fatal("Lookup(b) must return the breaker Get created")
	}

	var names []string
	for _, s := range reg.Snapshot() {
		names = append(names, s.Dependency)
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Fatalf("Snapshot dependencies = %v, want sorted [a b c]", names)
	}
	n := 0
	reg.Range(func(*resilience.Breaker) bool { n++; return n < 2 })
	if n != 2 {
		t.Fatalf("Range visited %d breakers after fn returned false, want 2", n)
	}
}

func TestRegistryOverridesMergeWithDefault(t *testing.T) {
	t.Parallel()
	var ownCalls []string
	bundle := setupRegistry(t, resilience.RegistryConfig{
		Default: resilience.BreakerConfig{FailureThreshold: 2, OpenTimeout: 30 * time.Second},
		Dependencies: map[string]resilience.BreakerConfig{
			"payment-api": {FailureThreshold: 4},
			"search": {
				Trip:          resilience.TripFailureRate,
				MinCalls:      2,
				OnStateChange: func(dep string, _, to resilience.State) { ownCalls = append(ownCalls, dep+">"+to.String()) },
			},
		},
	})
	reg := bundle.reg

	fail(t, reg.Get("other"), 2)
	wantState(t, reg.Get("other"), resilience.StateOpen)

	pay := reg.Get("payment-api")
	fail(t, pay, 3)
	wantState(t, pay, resilience.StateClosed)
	fail(t, pay, 1)
	// The override inherits the default's 30s open timeout.
	if oe := mustRefuse(t, pay); oe.RetryAfter != 30*time.Second {
		t.Fatalf("payment-api RetryAfter = %s, want the default's 30s", oe.RetryAfter)
	}

	search := reg.Get("search")
	succeed(t, search, 1)
	fail(t, search, 1)
	wantState(t, search, resilience.StateOpen)
	if !slices.Equal(ownCalls, []string{"search>open"}) {
		t.Fatalf("per-dependency OnStateChange calls = %v", ownCalls)
	}
	want := []string{"other:closed>open", "payment-api:closed>open", "search:closed>open"}
	if got := bundle.log.get(); !slices.Equal(got, want) {
		t.Fatalf("registry OnStateChange calls = %v, want %v", got, want)
	}
}

func TestRegistryLogsTransitions(t *testing.T) {
	t.Parallel()
	bundle := setupRegistry(t, resilience.RegistryConfig{Default: resilience.BreakerConfig{FailureThreshold: 1}})
	b := bundle.reg.Get("payment-api")
	fail(t, b, 1)
	bundle.clock.Advance(time.Minute)
	wantState(t, b, resilience.StateHalfOpen)

	lines := strings.Split(strings.TrimSpace(bundle.out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d log lines, want 2:\n%s", len(lines), bundle.out)
	}
	want := []map[string]string{
		{"level": "warn", "event": "breaker.transition", "dependency": "payment-api", "from": "closed", "to": "open"},
		{"level": "info", "event": "breaker.transition", "dependency": "payment-api", "from": "open", "to": "half-open"},
	}
	for i, line := range lines {
		var got map[string]any
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d is not JSON: %v", i, err)
		}
		for k, v := range want[i] {
			if fmt.Sprint(got[k]) != v {
				t.Errorf("line %d: %s = %v, want %s", i, k, got[k], v)
			}
		}
	}
}

func TestNewRegistryValidates(t *testing.T) {
	t.Parallel()
	_, err := resilience.NewRegistry(resilience.RegistryConfig{
		Dependencies: map[string]resilience.BreakerConfig{"payment-api": {HalfOpenMaxCalls: 1}},
	})
	if err == nil || !strings.Contains(err.Error(), `"payment-api"`) || !strings.Contains(err.Error(), "SuccessThreshold") {
		t.Fatalf("NewRegistry = %v, want an error naming payment-api and SuccessThreshold", err)
	}
	_, err = resilience.NewRegistry(resilience.RegistryConfig{Default: resilience.BreakerConfig{OpenTimeout: -1}})
	if err == nil || !strings.Contains(err.Error(), "Default") || !strings.Contains(err.Error(), "OpenTimeout") {
		t.Fatalf("NewRegistry = %v, want an error naming Default and OpenTimeout", err)
	}
}

func TestRegistryZeroLoggerDiscards(t *testing.T) {
	t.Parallel()
	reg, err := resilience.NewRegistry(resilience.RegistryConfig{})
	if err != nil {
		t.Fatal(err)
	}
	fail(t, reg.Get("x"), resilience.FailureThresholdDefault)
	wantState(t, reg.Get("x"), resilience.StateOpen)
}

// breakerNames returns the names of the local breakers reg holds, sorted.
func breakerNames(reg *resilience.Registry) []string {
	var names []string
	reg.Range(func(b *resilience.Breaker) bool { names = append(names, b.Name()); return true })
	slices.Sort(names)
	return names
}

// TestRegistryDropsIdleBreakers checks that dependency names taken from
// payloads cannot grow the registry without bound: a breaker whose
// dependency nobody called for IdleTimeout is dropped whatever its state
// (a one-failure streak or an open period that old says nothing), counted
// from the end of its open period, while breakers in use stay, open ones
// included.
func TestRegistryDropsIdleBreakers(t *testing.T) {
	b := setupRegistry(t, resilience.RegistryConfig{
		IdleTimeout: time.Minute,
		Default:     resilience.BreakerConfig{FailureThreshold: 3, OpenTimeout: time.Hour},
	})
	for i := range 1000 {
		b.reg.Get(fmt.Sprint("host-", i)).Check()
	}
	open, failing, busy := b.reg.Get("open"), b.reg.Get("failing"), b.reg.Get("busy")
	fail(t, open, 3)
	fail(t, failing, 1)
	if n := len(breakerNames(b.reg)); n != 1003 {
		t.Fatalf("%d breakers, want 1003", n)
	}
	b.clock.Advance(20 * time.Second)
	b.reg.Get("new-1") // sweeps: every breaker was used lately, so all stay
	if n := len(breakerNames(b.reg)); n != 1004 {
		t.Fatalf("after the first sweep: %d breakers, want 1004", n)
	}
	b.clock.Advance(70 * time.Second)
	busy.Check()
	mustRefuse(t, open) // still called: its open period holds
	b.reg.Get("new-2")  // sweeps again: those not called for a minute go
	if got, want := breakerNames(b.reg), []string{"busy", "new-1", "new-2", "open"}; !slices.Equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}
	if got, _ := b.reg.Lookup("open"); got != open || open.State() != resilience.StateOpen {
		t.Fatal("the open breaker of a dependency still called was dropped or reset")
	}

	// Nobody calls "open" any more: it stays through its open period and
	// IdleTimeout after it, then goes.
	b.clock.Advance(time.Hour - 90*time.Second + 30*time.Second) // 30s past its open period
	b.reg.Get("new-3")
	if _, ok := b.reg.Lookup("open"); !ok {
		t.Fatal("the open breaker was dropped within IdleTimeout of the end of its open period")
	}
	b.clock.Advance(time.Minute)
	b.reg.Get("new-4")
	if got, want := breakerNames(b.reg), []string{"new-3", "new-4"}; !slices.Equal(got, want) {
		t.Fatalf("left %v, want %v", got, want)
	}
}

// TestRegistryStaysBounded drives thousands of distinct failing
// dependencies through a registry, as payload-derived names (webhook hosts)
// can: one-failure hosts, then hosts failing until their breakers open.
// The registry never holds more than MaxBreakers, a dependency still being
// called keeps its open breaker throughout, and once the hosts go quiet
// the count falls back to what is in use.
func TestRegistryStaysBounded(t *testing.T) {
	const limit = 1000
	b := setupRegistry(t, resilience.RegistryConfig{MaxBreakers: limit}) // IdleTimeout 10m, OpenTimeout 60s
	count := func() int {
		n := 0
		b.reg.Range(func(*resilience.Breaker) bool { n++; return true })
		return n
	}
	ctx := context.Background()
	failed := errors.New("connection refused")
	call := func(dep string) error {
		return b.reg.Call(ctx, dep, func(context.Context) error { return failed })
	}
	hot := b.reg.Get("hot")
	fail(t, hot, resilience.FailureThresholdDefault)
	most := 0
	check := func(i int) {
		t.Helper()
		if i%50 != 0 {
			return
		}
		n := count()
		most = max(most, n)
		if n > limit {
			t.Fatalf("after %d dependencies: %d breakers, more than MaxBreakers %d", i, n, limit)
		}
		if i%50 == 0 { // the hot dependency is still called, and refused
			if err := call("hot"); !errors.Is(err, resilience.ErrOpen) {
				t.Fatalf("after %d dependencies: the hot dependency was let through: %v", i, err)
			}
			if got, _ := b.reg.Lookup("hot"); got != hot {
				t.Fatalf("after %d dependencies: the hot dependency's open breaker was evicted", i)
			}
		}
	}
	for i := range 5000 { // one failure each
		if err := call(fmt.Sprint("one-", i)); !errors.Is(err, failed) {
			t.Fatal(err)
		}
		check(i)
		b.clock.Advance(time.Millisecond) // time moves: least recently used is meaningful
	}
	for i := range 3000 { // open each
		dep := fmt.Sprint("open-", i)
		for range resilience.FailureThresholdDefault {
			_ = call(dep)
		}
		if err := call(dep); !errors.Is(err, resilience.ErrOpen) {
			t.Fatalf("%s not open: %v", dep, err)
		}
		check(i)
		b.clock.Advance(time.Millisecond)
	}
	if most < limit*9/10 {
		t.Fatalf("at most %d breakers held: the test did not reach the cap", most)
	}
	// The hosts go quiet, and a few new dependencies come. A sweep learns
	// which breakers were used since the registry last looked; IdleTimeout
	// later (and past their open periods), they are gone.
	b.clock.Advance(resilience.OpenTimeoutDefault + resilience.IdleTimeoutDefault/4)
	_ = call("quiet-1")
	b.clock.Advance(resilience.IdleTimeoutDefault + resilience.IdleTimeoutDefault/4)
	_ = call("quiet-2")
	if got := breakerNames(b.reg); !slices.Equal(got, []string{"quiet-1", "quiet-2"}) {
		t.Fatalf("after the quiet period %d breakers left (%v...), want the two in use", len(got), got[:min(len(got), 5)])
	}
}

// TestRegistryMaxBreakersDefault: without a configured cap, the registry
// holds at most MaxBreakersDefault breakers.
func TestRegistryMaxBreakersDefault(t *testing.T) {
	b := setupRegistry(t, resilience.RegistryConfig{})
	for i := range resilience.MaxBreakersDefault + 2000 {
		fail(t, b.reg.Get(fmt.Sprint("host-", i)), 1)
		if i%1000 == 0 {
			b.clock.Advance(time.Millisecond)
		}
	}
	if n := len(breakerNames(b.reg)); n > resilience.MaxBreakersDefault {
		t.Fatalf("%d breakers, more than MaxBreakersDefault %d", n, resilience.MaxBreakersDefault)
	}
}

func TestRegistryIdleTimeoutNegativeKeepsAll(t *testing.T) {
	b := setupRegistry(t, resilience.RegistryConfig{IdleTimeout: -1})
	b.reg.Get("a")
	b.clock.Advance(time.Hour)
	b.reg.Get("b")
	b.clock.Advance(time.Hour)
	b.reg.Get("c")
	if _, ok := b.reg.Lookup("a"); !ok {
		t.Fatal("dropped with IdleTimeout < 0")
	}
}

// TestRegistrySharedBreakersAreBounded: shared breakers count towards
// MaxBreakers and are swept like local ones; their state lives on in
// Redis, so a shared breaker dropped here and built again is still open.
func TestRegistrySharedBreakersAreBounded(t *testing.T) {
	const limit = 100
	srv := redistest.Start(t)
	clock := newFakeClock()
	reg, err := resilience.NewRegistry(resilience.RegistryConfig{
		Default:     resilience.BreakerConfig{FailureThreshold: 2, OpenTimeout: time.Hour, Now: clock.Now},
		Shared:      []string{"*"},
		Redis:       srv.Client(),
		MaxBreakers: limit,
		IdleTimeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("503")
	call := func(dep string) error {
		return reg.Call(t.Context(), dep, func(context.Context) error { return boom })
	}
	for range 2 {
		_ = call("hot")
	}
	for i := range 500 {
		_ = call(fmt.Sprint("host-", i))
		if n := len(reg.Snapshot()); n > limit {
			t.Fatalf("after %d dependencies: %d shared breakers, more than MaxBreakers %d", i, n, limit)
		}
		if i%100 == 0 {
			clock.Advance(time.Millisecond)
		}
	}
	clock.Advance(time.Minute / 4)
	_ = call("quiet-1")
	clock.Advance(time.Minute + time.Minute/4)
	_ = call("quiet-2")
	var left []string
	for _, s := range reg.Snapshot() {
		left = append(left, s.Dependency)
	}
	// quiet-1 was called 75s ago: it may go or stay, depending on whether
	// the registry looked between its calls.
	if !slices.Contains(left, "quiet-2") || len(left) > 2 || len(left) == 2 && left[0] != "quiet-1" {
		t.Fatalf("after the quiet period %d shared breakers left (%v), want those in use", len(left), left)
	}
	if err := reg.Check(t.Context(), "hot"); !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("a shared breaker built again: Check = %v, want still open (its state is in Redis)", err)
	}
}
