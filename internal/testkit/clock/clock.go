// Package clock is the module's one fake clock for tests: Fake moves only
// when told to. The public packages take the time from a Now func() time.Time
// field in their configs (defaulting to time.Now), so Fake.Now fits all of
// them.
package clock

import (
	"sync"
	"time"
)

// Fake is a clock that moves only when told to. The zero value starts at
// the zero time; NewFake starts at a fixed, readable date. It is safe for
// concurrent use.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a fake clock set to 2026-01-02 03:04:05 UTC.
func NewFake() *Fake { return &Fake{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward by d.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// Set moves the clock to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
}
