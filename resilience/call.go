package resilience

import "context"

type (
	registryKey struct{}
	guardKey    struct{}
)

// guard records that a dependency's outcome is already being recorded by an
// enclosing Call, so nested Calls for it neither take a second admission nor
// record twice.
type guard struct {
	reg    *Registry
	dep    string
	parent *guard
}

// WithRegistry returns a copy of ctx carrying r, for Call to find. The runner
// puts its registry in every job's context.
func WithRegistry(ctx context.Context, r *Registry) context.Context {
	return context.WithValue(ctx, registryKey{}, r)
}

// RegistryFrom returns the registry carried by ctx, or nil.
func RegistryFrom(ctx context.Context) *Registry {
	r, _ := ctx.Value(registryKey{}).(*Registry)
	return r
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

// Call runs fn as a call to the dependency dep, guarded by dep's breaker in
// the registry carried by ctx, and records its outcome there:
//
//   - with no registry in ctx, Call just runs fn;
//   - if the breaker refuses, fn is not run and Call returns the *OpenError;
//   - otherwise fn's error is classified with the breaker's Classify (by
//     default the package's Classify) and returned unchanged;
//   - if fn panics, the outcome is neutral (the probe slot is given back:
//     a panic is a bug of the caller, not a sign of the dependency's health)
//     and the panic continues.
//
// Calls nest: fn receives a context marking dep as recorded, and a Call for
// the same dep inside it just runs its function, so one logical call is
// admitted and recorded once. The runner relies on this to attribute a
// whole job to its single declared dependency with Call(ctx, dep, handler)
// while the handler itself uses Call(ctx, dep, ...) for its requests.
func Call(ctx context.Context, dep string, fn func(ctx context.Context) error) error {
	r := RegistryFrom(ctx)
	if r == nil || guarded(ctx, r, dep) {
		return fn(ctx)
	}
	b := r.Get(dep)
	t, err := b.Allow()
	if err != nil {
		return err
	}
	g, _ := ctx.Value(guardKey{}).(*guard)
	ctx = context.WithValue(ctx, guardKey{}, &guard{reg: r, dep: dep, parent: g})

	finished := false
	defer func() {
		if !finished {
			b.Done(t, OutcomeNeutral)
		}
	}()
	err = fn(ctx)
	finished = true
	b.Record(t, err)
	return err
}

// CallValue is Call for a function that returns a value as well.
func CallValue[T any](ctx context.Context, dep string, fn func(ctx context.Context) (T, error)) (T, error) {
	var v T
	err := Call(ctx, dep, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	})
	return v, err
}
