package resilience_test

import (
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/resilience"
)

// TestSharedTopologies runs the shared breaker's life cycle on a cluster
// and behind Sentinel, each replica with its own client: failures through
// one replica open it for the other, one probe is admitted cluster-wide
// after the open period, and its success closes it for both. (The single
// server is the rest of this file's tests.) A breaker is one hash, so on a
// cluster each dependency lives on one primary.
func TestSharedTopologies(t *testing.T) {
	t.Parallel()
	for _, topo := range redistest.Topologies() {
		if topo.Name == "single" {
			continue
		}
		t.Run(topo.Name, func(t *testing.T) {
			t.Parallel()
			env := topo.Start(t)
			newB := func() *resilience.SharedBreaker {
				b, err := resilience.NewSharedBreaker(env.NewClient(), "payment-api", fastShared())
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			a, b := newB(), newB()
			sharedTrip(t, a, 3)
			sharedWantOpen(t, b)
			time.Sleep(fastOpen + 50*time.Millisecond)
			probe := sharedAllow(t, b)
			sharedWantState(t, a, resilience.StateHalfOpen)
			sharedWantOpen(t, a) // the one probe is b's
			sharedDone(t, b, probe, resilience.Success)
			sharedWantState(t, a, resilience.StateClosed)
			sharedAllow(t, a)
		})
	}
}
