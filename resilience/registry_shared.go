package resilience

import (
	"context"
	"fmt"
	"slices"
)

// isShared reports whether dep's breaker is shared across replicas.
func (r *Registry) isShared(dep string) bool {
	return r.cfg.Redis != nil && (slices.Contains(r.cfg.Shared, "*") || slices.Contains(r.cfg.Shared, dep))
}

// shared returns dep's SharedBreaker, creating it on first use with dep's
// configuration.
func (r *Registry) shared(dep string) *SharedBreaker {
	if e, ok := r.sharedBreakers.Load(dep); ok {
		e.(*sharedEntry).use.touch()
		return e.(*sharedEntry).b
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.sharedBreakers.Load(dep); ok {
		e.(*sharedEntry).use.touch()
		return e.(*sharedEntry).b
	}
	cfg := r.cfg.SharedConfig
	cfg.BreakerConfig = r.configFor(dep)
	b, err := NewSharedBreaker(r.cfg.Redis, dep, cfg)
	if err != nil {
		// NewRegistry validated this configuration.
		panic(fmt.Sprintf("resilience: shared breaker %q: %v", dep, err))
	}
	e := &sharedEntry{b: b}
	e.use.ticks = &r.ticks
	e.use.last.Store(r.addLocked(heldKey{dep: dep, shared: true}, r.now()))
	r.sharedBreakers.Store(dep, e)
	return b
}

// Check reports whether a call to dep would be admitted now, without taking
// a half-open probe slot: nil or an *OpenError. Use it to hold back work
// that needs several dependencies before starting it.
func (r *Registry) Check(ctx context.Context, dep string) error {
	if r.isShared(dep) {
		return r.shared(dep).Check(ctx)
	}
	return r.Get(dep).Check()
}

// sharedCall is Call for a shared breaker.
func (r *Registry) sharedCall(ctx context.Context, dep string, fn func(ctx context.Context) error) error {
	b := r.shared(dep)
	t, err := b.begin(ctx)
	if err != nil {
		return err
	}
	g, _ := ctx.Value(guardKey{}).(*guard)
	ctx = context.WithValue(ctx, guardKey{}, &guard{reg: r, dep: dep, parent: g})
	finished := false
	defer func() {
		if !finished {
			_ = b.end(context.WithoutCancel(ctx), t, Neutral)
		}
	}()
	err = fn(ctx)
	finished = true
	_ = b.endErr(context.WithoutCancel(ctx), t, err) // a lost result only delays a trip
	return err
}
