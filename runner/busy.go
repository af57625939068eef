package runner

import "sync"

// busyCount counts the processTask calls holding one of asynq's
// goroutines, for the drain to wait until each has returned or handed its
// job over. Unlike a sync.WaitGroup, a call may begin while the drain
// waits (asynq can still hand out a task it fetched just before it
// stopped): the wait then covers it too.
type busyCount struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // made by wait while n > 0, closed when n drops to 0
}

func (b *busyCount) add() {
	b.mu.Lock()
	b.n++
	b.mu.Unlock()
}

func (b *busyCount) done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n--
	if b.n == 0 && b.idle != nil {
		close(b.idle)
		b.idle = nil
	}
}

// wait returns a channel closed once no call is in progress.
func (b *busyCount) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.n == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	if b.idle == nil {
		b.idle = make(chan struct{})
	}
	return b.idle
}
