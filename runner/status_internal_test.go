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

func TestMsText(t *testing.T) {
	for ms, want := range map[int64]string{
		850: "850ms", 12_000: "12s", 250_000: "4m10s", 3*3600_000 + 300_000: "3h05m", 52 * 3600_000: "2d04h",
	} {
		if got := msText(ms); got != want {
			t.Errorf("msText(%d) = %q; want %q", ms, got, want)
		}
	}
}
