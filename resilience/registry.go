package resilience

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// RegistryConfig configures a Registry. The zero value is valid: every
// dependency gets a breaker with the default BreakerConfig, and nothing is
// logged.
type RegistryConfig struct {
	// Default is the configuration of every dependency without an entry in
	// Dependencies. Its zero fields take the BreakerConfig defaults.
	Default BreakerConfig
	// Dependencies overrides the configuration per dependency name. Zero
	// fields of an override are taken from Default, so an override names
	// only what it changes (for example Trip: TripFailureRate). Defaults to
	// nil (no overrides).
	Dependencies map[string]BreakerConfig
	// OnStateChange, if set, is called after every state change of every
	// breaker, outside the breaker's lock and in order per breaker; wire the
	// runner's metrics here. A breaker's own BreakerConfig.OnStateChange, if
	// any, runs after it. Defaults to nil.
	OnStateChange func(dependency string, from, to State)
	// Logger receives one event per state change: event=breaker.transition
	// with dependency, from and to, at warn level when a breaker opens and
	// info level otherwise. Defaults to the zero zerolog.Logger, which
	// discards everything.
	Logger zerolog.Logger
	// IdleTimeout bounds how long an unused breaker is kept: when a new
	// breaker is created, breakers that are closed with no failure streak
	// and saw no call since the previous sweep (at least IdleTimeout ago)
	// are dropped; the next call to their dependency starts a fresh closed
	// breaker, which is what they were. It keeps the registry bounded when
	// dependency names come from payloads (webhook hosts). Negative keeps
	// every breaker. Defaults to 10 minutes.
	IdleTimeout time.Duration

	// Shared names the dependencies whose breaker state is shared by every
	// replica through Redis: each gets a SharedBreaker (configured from
	// Default and Dependencies, and SharedConfig), so replicas trip and
	// recover together and probe one at a time cluster-wide. "*" shares
	// every dependency. Needs Redis. Defaults to none.
	Shared []string
	// Redis holds the shared breakers' state. Required when Shared is set.
	Redis redis.Scripter
	// SharedConfig sets what is particular to shared breakers: ProbeTimeout,
	// CacheTTL, OnRedisError, RedisRetry. Its BreakerConfig is ignored (the
	// dependency's is used).
	SharedConfig SharedConfig
}

// IdleTimeoutDefault is the default of RegistryConfig.IdleTimeout.
const IdleTimeoutDefault = 10 * time.Minute

// Registry holds the breaker of each dependency, creating it on first use. It
// is owned by the runner (there is no package-level registry), and it is safe
// for concurrent use: Get is a lock-free map lookup once the breaker exists.
// Idle closed breakers are dropped (see RegistryConfig.IdleTimeout), so
// dependency names taken from payloads do not grow it without bound.
type Registry struct {
	cfg            RegistryConfig
	breakers       sync.Map   // Dependency name to *Breaker.
	sharedBreakers sync.Map   // Dependency name to *SharedBreaker.
	mu             sync.Mutex // Serialises creation so each breaker is built once.
	swept          time.Time  // Last sweep for idle breakers; guarded by mu.
}

// NewRegistry returns an empty registry. It validates the default config and
// every override up front, so Get never fails; the error names the
// dependency and the field.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	r := &Registry{cfg: cfg}
	r.cfg.IdleTimeout = cmp.Or(cfg.IdleTimeout, IdleTimeoutDefault)
	r.swept = r.now()
	if err := cfg.Default.Validate(); err != nil {
		return nil, fmt.Errorf("resilience: RegistryConfig.Default: %w", err)
	}
	for dep := range cfg.Dependencies {
		if err := r.configFor(dep).validate(); err != nil {
			return nil, fmt.Errorf("resilience: RegistryConfig.Dependencies[%q]: %w", dep, err)
		}
	}
	if len(cfg.Shared) > 0 {
		if cfg.Redis == nil {
			return nil, errors.New("resilience: RegistryConfig.Shared needs RegistryConfig.Redis")
		}
		for _, dep := range append([]string{""}, cfg.Shared...) {
			sc := cfg.SharedConfig
			sc.BreakerConfig = r.configFor(dep)
			if err := sc.withDefaults().validate(); err != nil {
				return nil, fmt.Errorf("resilience: RegistryConfig.Shared[%q]: %w", dep, err)
			}
		}
	}
	return r, nil
}

// configFor returns the effective configuration of dep with defaults
// applied and the registry's hooks installed.
func (r *Registry) configFor(dep string) BreakerConfig {
	cfg := r.cfg.Default
	if o, ok := r.cfg.Dependencies[dep]; ok {
		cfg = o.merge(cfg)
	}
	cfg = cfg.withDefaults()
	own := cfg.OnStateChange
	cfg.OnStateChange = func(name string, from, to State) {
		r.logTransition(name, from, to)
		if r.cfg.OnStateChange != nil {
			r.cfg.OnStateChange(name, from, to)
		}
		if own != nil {
			own(name, from, to)
		}
	}
	return cfg
}

// logTransition writes the breaker.transition event.
func (r *Registry) logTransition(dep string, from, to State) {
	ev := r.cfg.Logger.Info()
	if to == StateOpen {
		ev = r.cfg.Logger.Warn()
	}
	ev.Str("event", "breaker.transition").
		Str("dependency", dep).
		Str("from", from.String()).
		Str("to", to.String()).
		Msg("circuit breaker state changed")
}

// Get returns the breaker of dep, creating it if needed.
func (r *Registry) Get(dep string) *Breaker {
	if b, ok := r.breakers.Load(dep); ok {
		return b.(*Breaker)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.breakers.Load(dep); ok {
		return b.(*Breaker)
	}
	r.sweepLocked()
	b := newBreaker(dep, r.configFor(dep))
	r.breakers.Store(dep, b)
	return b
}

// now reads the clock of the default breaker configuration.
func (r *Registry) now() time.Time {
	if now := r.cfg.Default.Now; now != nil {
		return now()
	}
	return time.Now()
}

// sweepLocked drops the breakers that were idle since the previous sweep,
// once per IdleTimeout at most. A caller that got a breaker just before it
// was dropped records into it harmlessly: it was closed and stays so.
func (r *Registry) sweepLocked() {
	if r.cfg.IdleTimeout < 0 {
		return
	}
	now := r.now()
	if now.Sub(r.swept) < r.cfg.IdleTimeout {
		return
	}
	r.swept = now
	r.breakers.Range(func(k, v any) bool {
		b := v.(*Breaker)
		if !b.used.Swap(false) && b.idle() {
			r.breakers.Delete(k)
		}
		return true
	})
}

// Lookup returns the breaker of dep if it has been created.
func (r *Registry) Lookup(dep string) (*Breaker, bool) {
	b, ok := r.breakers.Load(dep)
	if !ok {
		return nil, false
	}
	return b.(*Breaker), true
}

// Range calls fn for each breaker created so far, in no particular order,
// until fn returns false.
func (r *Registry) Range(fn func(b *Breaker) bool) {
	r.breakers.Range(func(_, b any) bool { return fn(b.(*Breaker)) })
}

// Snapshot returns a snapshot of every breaker created so far, sorted by
// dependency; a shared breaker's is its last state read from Redis. A metrics collector can call it at scrape time to export the
// state gauge (Snapshot.State is 0 closed, 1 half-open, 2 open).
func (r *Registry) Snapshot() []Snapshot {
	var out []Snapshot
	r.Range(func(b *Breaker) bool {
		out = append(out, b.Snapshot())
		return true
	})
	r.sharedBreakers.Range(func(_, b any) bool {
		out = append(out, b.(*SharedBreaker).snapshot())
		return true
	})
	slices.SortFunc(out, func(a, b Snapshot) int { return strings.Compare(a.Dependency, b.Dependency) })
	return out
}
