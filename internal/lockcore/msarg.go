package lockcore

import (
	"sync"
	"sync/atomic"
	"time"
)

// cowMap is a copy-on-write map for the store's small read-mostly caches:
// a lookup takes no lock, a write copies the map. It holds at most
// cowMapMax keys; a value for another key is not kept.
type cowMap[V any] struct {
	m  atomic.Pointer[map[int64]V]
	mu sync.Mutex // serializes writers
}

// cowMapMax bounds a cowMap: job types declare their TTLs and windows, so a
// store sees a handful.
const cowMapMax = 64

func (c *cowMap[V]) load(k int64) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// update stores f(old value, found) under k and returns it, under the
// writers' lock; f sees what another writer may have stored since load.
func (c *cowMap[V]) update(k int64, f func(V, bool) V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	var cur V
	var ok bool
	var n int
	if old != nil {
		cur, ok = (*old)[k]
		n = len(*old)
	}
	v := f(cur, ok)
	if !ok && n >= cowMapMax {
		return v
	}
	m := make(map[int64]V, n+1)
	if old != nil {
		for k, x := range *old {
			m[k] = x
		}
	}
	m[k] = v
	c.m.Store(&m)
	return v
}

// msArgs boxes durations as script arguments (milliseconds) once: a store
// sends the same few TTLs (marker, lock, window, slot) with every job, and
// boxing an int64 of 256 or more allocates.
type msArgs struct{ cowMap[any] }

// arg returns d in milliseconds as an interface value.
func (c *msArgs) arg(d time.Duration) any {
	ms := d.Milliseconds()
	if v, ok := c.load(ms); ok {
		return v
	}
	return c.update(ms, func(v any, ok bool) any {
		if ok {
			return v
		}
		return ms
	})
}
