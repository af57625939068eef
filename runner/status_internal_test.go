package runner

import (
	"testing"

	"github.com/jobrunner/jobrunner/internal/fleet"
)

// TestFleetReadsWhatTheRunnerWrites: package fleet reads the headers and
// timings the runner writes under its own names; they must agree.
func TestFleetReadsWhatTheRunnerWrites(t *testing.T) {
	for _, c := range []struct{ runner, fleet string }{
		{HeaderOrigin, fleet.HeaderOrigin},
		{headerRequeues, fleet.HeaderRequeues},
	} {
		if c.runner != c.fleet {
			t.Errorf("the runner writes header %q, fleet reads %q", c.runner, c.fleet)
		}
	}
	if tickLateMax != fleet.TickLateMax {
		t.Errorf("the scheduler enqueues ticks up to %v late, fleet counts them missed after %v", tickLateMax, fleet.TickLateMax)
	}
}
