package fleet

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jobrunner/jobrunner/resilience"
)

// Scopes of a breaker.
const (
	ScopeShared = "shared" // state in Redis, one for the fleet
	ScopeLocal  = "local"  // one replica's own breaker
)

// Breaker is a circuit breaker as the status shows it.
type Breaker struct {
	// Dependency is the breaker's name.
	Dependency string `json:"dependency"`
	// Scope is "shared" (state in Redis, for the whole fleet) or "local"
	// (the answering replica's own breaker).
	Scope string `json:"scope"`
	// State is "closed", "open" or "half_open".
	State string `json:"state"`
	// Failures is the failure streak of a closed breaker, or the failures
	// in the rolling window of one that trips on a failure rate.
	Failures int `json:"failures"`
	// Calls is the outcomes in the rolling window of a breaker that trips
	// on a failure rate; omitted otherwise.
	Calls int `json:"calls,omitempty"`
	// ProbeOut is true while a half-open breaker has no probe slot free.
	ProbeOut bool `json:"probe_out,omitempty"`
	// RetryInMS is how long until a call could be admitted (the open
	// period's end, or a probe slot freed); 0 when one would be now.
	RetryInMS int64 `json:"retry_in_ms"`
	// RetryAt is that moment; omitted when it is now.
	RetryAt string `json:"retry_at,omitempty"`
}

// StateName returns the status's name of s: "closed", "open" or
// "half_open".
func StateName(s resilience.State) string {
	return strings.ReplaceAll(s.String(), "-", "_")
}

// LocalBreaker returns a local breaker's snapshot as the status shows it,
// at now.
func LocalBreaker(s resilience.Snapshot, now time.Time) Breaker {
	b := Breaker{Dependency: s.Dependency, Scope: ScopeLocal, State: StateName(s.State), Failures: s.ConsecutiveFailures}
	if s.WindowCalls > 0 {
		b.Failures, b.Calls = s.WindowFailures, s.WindowCalls
	}
	b.ProbeOut = s.State == resilience.StateHalfOpen && s.RetryAfter > 0
	b.setRetry(s.RetryAfter, now)
	return b
}

func (b *Breaker) setRetry(d time.Duration, now time.Time) {
	if d > 0 {
		b.RetryInMS, b.RetryAt = Ms(d), Stamp(now.Add(d))
	}
}

// readBreakers reads every shared breaker: those configured by name and
// those in the breakers' index.
func readBreakers(ctx context.Context, cfg Config) ([]Breaker, error) {
	names, err := resilience.SharedNames(ctx, cfg.Redis, resilience.SharedIndexMax)
	if err != nil {
		return nil, err
	}
	for _, n := range cfg.SharedBreakers {
		if n != "*" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	names = names[:min(len(names), resilience.SharedIndexMax)]
	states, err := resilience.ReadShared(ctx, cfg.Redis, names)
	if err != nil {
		return nil, err
	}
	now := cfg.Now()
	out := make([]Breaker, len(states))
	for i, s := range states {
		b := Breaker{Dependency: s.Dependency, Scope: ScopeShared, State: StateName(s.State), Failures: s.Failures, ProbeOut: s.ProbeOut}
		b.setRetry(s.RetryAfter, now)
		out[i] = b
	}
	return out, nil
}
