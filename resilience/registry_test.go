package resilience_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

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

// TestRegistryDropsIdleBreakers checks that dependency names taken from
// payloads cannot grow the registry without bound: closed breakers nobody
// called for an idle period are dropped, while open, failing and busy ones
// stay.
func TestRegistryDropsIdleBreakers(t *testing.T) {
	b := setupRegistry(t, resilience.RegistryConfig{
		IdleTimeout: time.Minute,
		Default:     resilience.BreakerConfig{FailureThreshold: 3},
	})
	count := func() int {
		n := 0
		b.reg.Range(func(*resilience.Breaker) bool { n++; return true })
		return n
	}
	for i := range 1000 {
		b.reg.Get(fmt.Sprint("host-", i)).Check()
	}
	open, failing, busy := b.reg.Get("open"), b.reg.Get("failing"), b.reg.Get("busy")
	for range 3 {
		tk, _ := open.Allow()
		open.Done(tk, resilience.Failure)
	}
	tk, _ := failing.Allow()
	failing.Done(tk, resilience.Failure)
	if n := count(); n != 1003 {
		t.Fatalf("%d breakers, want 1003", n)
	}
	b.clock.Advance(time.Minute)
	b.reg.Get("new-1") // sweeps: every breaker was used since creation, so all stay
	if n := count(); n != 1004 {
		t.Fatalf("after the first sweep: %d breakers, want 1004", n)
	}
	b.clock.Advance(time.Minute)
	busy.Check()
	b.reg.Get("new-2") // sweeps again: the idle closed ones go
	var left []string
	b.reg.Range(func(br *resilience.Breaker) bool { left = append(left, br.Name()); return true })
	slices.Sort(left)
	// new-1 was created during the last period: it stays until the next.
	if want := []string{"busy", "failing", "new-1", "new-2", "open"}; !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	if got, _ := b.reg.Lookup("open"); got != open || open.State() == resilience.StateClosed {
		t.Fatal("the open breaker was dropped or reset") // half-open by now: its open period is over
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
