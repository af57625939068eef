package resilience

import "context"

type guardKey struct{}

// guard records that a dependency's result is already being recorded by an
// enclosing Call, so nested Calls for it neither take a second admission nor
// record twice.
type guard struct {
	reg    *Registry
	dep    string
	parent *guard
}

// guarded reports whether an enclosing Call on r already records dep.
func guarded(ctx context.Context, r *Registry, dep string) bool {
	g, _ := ctx.Value(guardKey{}).(*guard)
	for ; g != nil; g = g.parent {
		if g.reg == r && g.dep == dep {
			return true
		}
	}
	return false
}

// Call runs fn as a call to the dependency dep, guarded by dep's breaker,
// and records its result there:
//
//   - if the breaker refuses, fn is not run and Call returns the *OpenError;
//   - otherwise fn's error is classified with the breaker's Classify (by
//     default the package's Classify) and returned unchanged;
//   - if fn panics, the result is neutral (the probe slot is given back: a
//     panic is a bug of the caller, not a sign of the dependency's health)
//     and the panic continues.
//
// Calls nest: fn receives a context marking dep as recorded, and a Call for
// the same dep inside it just runs its function, so one logical call is
// admitted and recorded once. The runner relies on this to attribute a
// whole job to its single declared dependency while the handler itself
// records its requests with job.Call.
func (r *Registry) Call(ctx context.Context, dep string, fn func(ctx context.Context) error) error {
	if guarded(ctx, r, dep) {
		return fn(ctx)
	}
	if r.isShared(dep) {
		return r.sharedCall(ctx, dep, fn)
	}
	b := r.Get(dep)
	t, err := b.begin()
	if err != nil {
		return err
	}
	g, _ := ctx.Value(guardKey{}).(*guard)
	ctx = context.WithValue(ctx, guardKey{}, &guard{reg: r, dep: dep, parent: g})

	finished := false
	defer func() {
		if !finished {
			b.end(t, Neutral)
		}
	}()
	err = fn(ctx)
	finished = true
	b.endErr(t, err)
	return err
}
