package enqueue

import (
	"sync"
	"time"
)

// logThrottle lets one log line through per interval and counts the
// others, so that an outage under heavy traffic logs a line a second, not
// a line a request.
type logThrottle struct {
	every time.Duration
	now   func() time.Time

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether a line may be logged now and how many were
// suppressed since the last one that was.
func (l *logThrottle) allow() (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}
