package resilience

import "context"

// The two-step admission below is the runner's and the Registry's; the
// tests reach it under the names they used when it was public.

type (
	Ticket       = ticket
	SharedTicket = sharedTicket
)

func (b *Breaker) Allow() (Ticket, error)     { return b.begin() }
func (b *Breaker) Done(t Ticket, o Result)    { b.end(t, o) }
func (b *Breaker) Record(t Ticket, err error) { b.endErr(t, err) }

func (b *SharedBreaker) Allow(ctx context.Context) (SharedTicket, error) { return b.begin(ctx) }
func (b *SharedBreaker) Done(ctx context.Context, t SharedTicket, o Result) error {
	return b.end(ctx, t, o)
}
func (b *SharedBreaker) Record(ctx context.Context, t SharedTicket, err error) error {
	return b.endErr(ctx, t, err)
}

// Local reports whether the call was admitted by the local fallback breaker
// because Redis was unreachable.
func (t SharedTicket) Local() bool { return t.local }
