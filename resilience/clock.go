package resilience

import "time"

// Clock tells the time. Breakers read it to time the open period, the half-open
// guard and the failure-rate window; Do reads it to check whether a wait still
// fits before the context's deadline. Tests inject a fake clock so that state
// machines are exercised without sleeping.
type Clock interface {
	// Now returns the current time. Implementations must be safe for
	// concurrent use.
	Now() time.Time
}

// SystemClock is the Clock backed by time.Now. Its zero value is ready to use.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }
