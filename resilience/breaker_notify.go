package resilience

// transition is a state change waiting to be reported to OnStateChange.
type transition struct{ from, to State }

// flush delivers queued transitions to OnStateChange, outside b.mu and one
// goroutine at a time, in the order they happened. If another goroutine is
// delivering, it will deliver ours too: it checks the queue again after it
// stops delivering, so nothing is stranded.
func (b *Breaker) flush() {
	for b.notifyMu.TryLock() {
		b.deliver()
		b.mu.Lock()
		more := len(b.pending) > 0
		b.mu.Unlock()
		if !more {
			return
		}
	}
}

// deliver runs OnStateChange for queued transitions while holding notifyMu.
func (b *Breaker) deliver() {
	defer b.notifyMu.Unlock() // A panicking callback must not block later ones.
	for {
		b.mu.Lock()
		batch := b.pending
		b.pending = nil
		b.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		for _, tr := range batch {
			b.cfg.OnStateChange(b.name, tr.from, tr.to)
		}
	}
}
