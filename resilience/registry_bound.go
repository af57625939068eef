package resilience

import (
	"cmp"
	"slices"
	"sync/atomic"
	"time"
)

// MaxBreakersDefault is the default of RegistryConfig.MaxBreakers.
const MaxBreakersDefault = 10_000

// heldKey names a breaker the registry holds: a dependency's local breaker,
// or its shared one.
type heldKey struct {
	dep    string
	shared bool
}

// useMark tells a Registry when a breaker it holds was last used, in the
// registry's ticks: its count of breakers created. Marking is an atomic
// load, and a store only the first time in a tick, so the closed path of
// a breaker stays cheap.
type useMark struct {
	ticks *atomic.Uint64 // the registry's; nil for a breaker of no registry
	last  atomic.Uint64  // the tick of the last use
}

// touch marks a use now.
func (m *useMark) touch() {
	if m.ticks == nil {
		return
	}
	if t := m.ticks.Load(); m.last.Load() != t {
		m.last.Store(t)
	}
}

// sharedEntry is a SharedBreaker as the registry holds it, with the use
// mark a Breaker keeps itself.
type sharedEntry struct {
	b   *SharedBreaker
	use useMark
}

// The ranks of held breakers, in the order they are evicted.
const (
	rankStale   = iota // unused past its IdleTimeout: dropped at every sweep
	rankNothing        // holds nothing a fresh breaker would not
	rankHolds          // holds a failure streak, outcomes or an open state
)

// addLocked makes room for a breaker about to be created under k at now,
// with a sweep when one is due and evictions when the registry is full,
// and returns the use mark the new breaker starts with.
func (r *Registry) addLocked(k heldKey, now time.Time) (tick uint64) {
	tick = r.ticks.Add(1)
	r.sweepLocked(now)
	if limit := r.cfg.MaxBreakers; limit > 0 && len(r.held) >= limit {
		r.evictLocked(now, min(limit-limit/10, limit-1))
	}
	r.held[k] = now
	return tick
}

// sweepLocked drops the stale breakers, at most every quarter of
// IdleTimeout.
func (r *Registry) sweepLocked(now time.Time) {
	if r.cfg.IdleTimeout < 0 || now.Sub(r.swept) < r.cfg.IdleTimeout/4 {
		return
	}
	r.swept = now
	for k := range r.held {
		if rank, _ := r.rankLocked(k, now); rank == rankStale {
			r.dropLocked(k)
		}
	}
	r.looked = r.ticks.Load()
}

// evictLocked drops breakers until at most n are held: the stale first,
// then those holding nothing, then the others, each group least recently
// used first.
func (r *Registry) evictLocked(now time.Time, n int) {
	type candidate struct {
		k    heldKey
		rank int
		last uint64
	}
	cands := make([]candidate, 0, len(r.held))
	for k := range r.held {
		rank, last := r.rankLocked(k, now)
		cands = append(cands, candidate{k: k, rank: rank, last: last})
	}
	r.looked = r.ticks.Load()
	slices.SortFunc(cands, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.last, b.last))
	})
	for _, c := range cands[:max(len(cands)-n, 0)] {
		r.dropLocked(c.k)
	}
}

// rankLocked returns the rank of the breaker held under k at now, and the
// tick of its last use. A breaker used since the registry last looked
// (a sweep or an eviction) is seen at now: the times the registry keeps
// are as fine as its looks, and never earlier than the last use.
func (r *Registry) rankLocked(k heldKey, now time.Time) (rank int, last uint64) {
	var holds bool
	var until time.Time
	if k.shared {
		v, _ := r.sharedBreakers.Load(k.dep)
		e := v.(*sharedEntry)
		last = e.use.last.Load()
		holds, until = e.b.retained()
	} else {
		v, _ := r.breakers.Load(k.dep)
		b := v.(*Breaker)
		last = b.use.last.Load()
		holds, until = b.retained()
	}
	if last >= r.looked {
		r.held[k] = now
	}
	switch {
	case r.cfg.IdleTimeout >= 0 && now.Sub(later(r.held[k], until)) >= r.cfg.IdleTimeout:
		return rankStale, last
	case holds:
		return rankHolds, last
	}
	return rankNothing, last
}

// dropLocked forgets the breaker held under k. A caller that got it just
// before records into it harmlessly; the next Get creates a fresh one.
func (r *Registry) dropLocked(k heldKey) {
	delete(r.held, k)
	if k.shared {
		r.sharedBreakers.Delete(k.dep)
	} else {
		r.breakers.Delete(k.dep)
	}
}

// retained reports whether b holds anything a fresh breaker would not (a
// failure streak, outcomes in its window, an open or half-open state), and
// when its open period ends (zero if it never opened).
func (b *Breaker) retained() (holds bool, openUntil time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.word.Load()
	holds = stateOf(w) != StateClosed || w&cfMask != 0
	if !holds && b.win != nil {
		calls, _ := b.win.stats(b.cfg.Now())
		holds = calls > 0
	}
	return holds, b.openUntil
}

// retained is Breaker.retained for a shared breaker, whose state lives in
// Redis: what it holds here is its local fallback, and the time it skips
// Redis until.
func (b *SharedBreaker) retained() (holds bool, until time.Time) {
	holds, until = b.local.retained()
	b.mu.Lock()
	down := b.downUntil
	b.mu.Unlock()
	return holds || b.cfg.Now().Before(down), later(until, down)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
