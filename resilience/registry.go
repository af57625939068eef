package resilience

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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
	// IdleTimeout bounds how long an unused breaker is kept: a breaker
	// whose dependency saw no call (Call, Check) for IdleTimeout,
	// counted from the end of its open period if it opened, is dropped,
	// whatever its state; the next call to its dependency starts a fresh
	// closed breaker. A failure streak or an open period that old says
	// nothing about the dependency now. The registry drops breakers in
	// sweeps, run when a breaker is created, at most every IdleTimeout/4,
	// and learns of calls when it looks (at sweeps and evictions), so a
	// breaker goes at least IdleTimeout after its last call, and usually
	// within 1.5 IdleTimeout. Negative keeps breakers until MaxBreakers
	// evicts them. Defaults to 10 minutes.
	IdleTimeout time.Duration
	// MaxBreakers caps the breakers held, local and shared together, so
	// that dependency names taken from payloads (webhook hosts) cannot
	// grow the registry whatever the breakers' states. When creating a
	// breaker would pass the cap, the registry first drops the breakers
	// past their IdleTimeout, then those holding nothing a fresh breaker
	// would not (closed, no failure streak, no outcomes in the window),
	// least recently used first, then the others, least recently used
	// first, until it holds nine tenths of the cap. A breaker in use is
	// evicted only when more than MaxBreakers dependencies are in use at
	// once; its dependency then starts again from a closed breaker.
	// Negative means no cap. Defaults to MaxBreakersDefault (10,000).
	MaxBreakers int

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
// It holds at most MaxBreakers breakers and drops unused ones (see
// RegistryConfig.IdleTimeout and MaxBreakers), so dependency names taken
// from payloads do not grow it without bound.
type Registry struct {
	cfg            RegistryConfig
	breakers       sync.Map   // Dependency name to *Breaker.
	sharedBreakers sync.Map   // Dependency name to *sharedEntry.
	mu             sync.Mutex // Serialises creation and eviction so each breaker is built once.
	// held maps every breaker held to the last time a look found it used
	// (or its creation); guarded by mu.
	held map[heldKey]time.Time
	// ticks counts the breakers created: the clock of their use marks.
	ticks atomic.Uint64
	// looked is the tick of the last look at every breaker (a sweep or an
	// eviction); guarded by mu.
	looked uint64
	swept  time.Time // Last sweep for idle breakers; guarded by mu.
}

// NewRegistry returns an empty registry. It validates the default config and
// every override up front, so Get never fails; the error names the
// dependency and the field.
func NewRegistry(cfg RegistryConfig) (*Registry, error) {
	r := &Registry{cfg: cfg, held: make(map[heldKey]time.Time)}
	r.cfg.IdleTimeout = cmp.Or(cfg.IdleTimeout, IdleTimeoutDefault)
	r.cfg.MaxBreakers = cmp.Or(cfg.MaxBreakers, MaxBreakersDefault)
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
	b := newBreaker(dep, r.configFor(dep))
	b.use.ticks = &r.ticks
	b.use.last.Store(r.addLocked(heldKey{dep: dep}, r.now()))
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
	r.sharedBreakers.Range(func(_, e any) bool {
		out = append(out, e.(*sharedEntry).b.snapshot())
		return true
	})
	slices.SortFunc(out, func(a, b Snapshot) int { return strings.Compare(a.Dependency, b.Dependency) })
	return out
}
