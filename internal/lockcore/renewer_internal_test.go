package lockcore

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// TestRenewerBoundsRoundTripsInFlight: with every renewal hanging, leases
// due at different times go out in round trips of their own, at most
// MaxInFlight of them per store at once, and no lease is in two.
func TestRenewerBoundsRoundTripsInFlight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := NewMemoryStore(MemoryConfig{})
		// A round trip lasts until it gives up at its leases' deadline.
		r := NewRenewer(RenewerConfig{MaxInFlight: 2, Timeout: time.Minute})
		r.Start()
		defer r.Shutdown()
		// Leases tracked 600ms apart come due apart (beyond the TTL/6 that
		// batches them), each while the round trips of those before hang:
		// without the bound, four would be in flight 2.8s in.
		const n, ttl = 5, 3 * time.Second
		leases := make([]*Lease, n)
		for i := range leases {
			l, err := s.Acquire(context.Background(), fmt.Sprint("k", i), ttl, -1)
			if err != nil {
				t.Fatal(err)
			}
			leases[i] = l
		}
		s.SetDelay(time.Hour)
		peak := 0
		for i := range 300 {
			if i%60 == 0 {
				defer r.Track(nil, leases[i/60])()
			}
			time.Sleep(10 * time.Millisecond)
			synctest.Wait()
			r.mu.Lock()
			calls, busy := r.calls[s], len(r.busy)
			r.mu.Unlock()
			if calls > 2 {
				t.Fatalf("%d round trips in flight, MaxInFlight is 2", calls)
			}
			if busy > n {
				t.Fatalf("%d leases busy of %d", busy, n)
			}
			peak = max(peak, calls)
		}
		if peak != 2 {
			t.Fatalf("at most %d round trips in flight at once; want 2 with %d leases due apart", peak, n)
		}
		s.SetDelay(0)
	})
}
