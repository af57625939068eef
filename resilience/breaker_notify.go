package resilience

import "sync"

// transition is a state change waiting to be reported to OnStateChange.
type transition struct{ from, to State }

// transitions queues a breaker's state changes and delivers them to its
// OnStateChange outside the breaker's own lock (a callback may call the
// breaker back), one goroutine at a time and in the order they happened.
// A goroutine that finds another delivering leaves its changes to it: that
// one checks the queue again before it stops, so nothing is stranded.
// Local and shared breakers both report through it.
type transitions struct {
	mu         sync.Mutex // guards queue
	delivering sync.Mutex // held by the goroutine delivering
	queue      []transition
}

// add queues a change.
func (t *transitions) add(from, to State) {
	t.mu.Lock()
	t.queue = append(t.queue, transition{from: from, to: to})
	t.mu.Unlock()
}

// flush delivers the queued changes of the breaker name to cb.
func (t *transitions) flush(name string, cb func(name string, from, to State)) {
	for t.delivering.TryLock() {
		t.deliver(name, cb)
		t.mu.Lock()
		more := len(t.queue) > 0
		t.mu.Unlock()
		if !more {
			return
		}
	}
}

// deliver runs cb for queued changes while holding delivering.
func (t *transitions) deliver(name string, cb func(name string, from, to State)) {
	defer t.delivering.Unlock() // A panicking callback must not block later ones.
	for {
		t.mu.Lock()
		batch := t.queue
		t.queue = nil
		t.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		for _, tr := range batch {
			cb(name, tr.from, tr.to)
		}
	}
}

// flush delivers b's queued transitions.
func (b *Breaker) flush() { b.notes.flush(b.name, b.cfg.OnStateChange) }
