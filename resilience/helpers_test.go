package resilience_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/resilience"
)

// fakeClock is a Clock that moves only when told to. Its Sleep advances it
// instead of waiting, and remembers the durations.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// transitionLog records OnStateChange calls.
type transitionLog struct {
	mu  sync.Mutex
	log []string
}

func (l *transitionLog) record(name string, from, to resilience.State) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, name+":"+from.String()+">"+to.String())
}

func (l *transitionLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.log...)
}

// breakerBundle is a breaker under test with its collaborators.
type breakerBundle struct {
	clock *fakeClock
	log   *transitionLog
	b     *resilience.Breaker
}

// setupBreaker returns a breaker named "dep" with a fake clock, no open
// jitter unless cfg sets some, and a transition log. cfg's zero fields take
// the defaults.
func setupBreaker(t testing.TB, cfg resilience.BreakerConfig) *breakerBundle {
	t.Helper()
	bundle := &breakerBundle{clock: newFakeClock(), log: &transitionLog{}}
	if cfg.Now == nil {
		cfg.Now = bundle.clock.Now
	}
	if cfg.OpenJitter == 0 {
		cfg.OpenJitter = -1
	}
	if cfg.OnStateChange == nil {
		cfg.OnStateChange = bundle.log.record
	}
	b, err := resilience.NewBreaker("dep", cfg)
	if err != nil {
		t.Fatalf("NewBreaker: %v", err)
	}
	bundle.b = b
	return bundle
}

// mustAllow admits a call or fails the test.
func mustAllow(t testing.TB, b *resilience.Breaker) resilience.Ticket {
	t.Helper()
	tk, err := b.Allow()
	if err != nil {
		t.Fatalf("Allow: unexpected refusal: %v", err)
	}
	return tk
}

// mustRefuse expects Allow to refuse with an *OpenError and returns it.
func mustRefuse(t testing.TB, b *resilience.Breaker) *resilience.OpenError {
	t.Helper()
	_, err := b.Allow()
	oe, ok := err.(*resilience.OpenError)
	if !ok {
		t.Fatalf("Allow: want *OpenError, got %v", err)
	}
	return oe
}

// fail records n failed calls.
func fail(t testing.TB, b *resilience.Breaker, n int) {
	t.Helper()
	for range n {
		b.Done(mustAllow(t, b), resilience.Failure)
	}
}

// succeed records n successful calls.
func succeed(t testing.TB, b *resilience.Breaker, n int) {
	t.Helper()
	for range n {
		b.Done(mustAllow(t, b), resilience.Success)
	}
}

func wantState(t testing.TB, b *resilience.Breaker, want resilience.State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("State() = %s, want %s", got, want)
	}
}

// errCanceled returns context.Canceled, wrapped as an HTTP client would.
func errCanceled() error { return fmt.Errorf("Post \"http://x\": %w", context.Canceled) }
