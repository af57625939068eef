package resilience

// report delivers queued state changes to OnStateChange, outside b.mu and
// one goroutine at a time, in order; like Breaker.flush, a goroutine that
// finds another delivering leaves its changes to it.
func (b *SharedBreaker) report() {
	for b.notifyMu.TryLock() {
		func() {
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
		}()
		b.mu.Lock()
		more := len(b.pending) > 0
		b.mu.Unlock()
		if !more {
			return
		}
	}
}
