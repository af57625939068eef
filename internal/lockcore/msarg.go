package lockcore

import (
	"sync"
	"sync/atomic"
	"time"
)

// msArgs boxes durations as script arguments (milliseconds) once: a store
// sends the same few TTLs (marker, lock, window, slot) with every job, and
// boxing an int64 of 256 or more allocates. The cache is copy-on-write and
// holds at most msArgsMax values; others are boxed per call.
type msArgs struct {
	m  atomic.Pointer[map[int64]any]
	mu sync.Mutex // serializes writers
}

// msArgsMax bounds the cache: job types declare their TTLs and windows,
// so a store sees a handful.
const msArgsMax = 64

// arg returns d in milliseconds as an interface value.
func (c *msArgs) arg(d time.Duration) any {
	ms := d.Milliseconds()
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[ms]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	var n int
	if old != nil {
		if v, ok := (*old)[ms]; ok {
			return v
		}
		n = len(*old)
	}
	var v any = ms
	if n >= msArgsMax {
		return v
	}
	m := make(map[int64]any, n+1)
	if old != nil {
		for k, x := range *old {
			m[k] = x
		}
	}
	m[ms] = v
	c.m.Store(&m)
	return v
}
