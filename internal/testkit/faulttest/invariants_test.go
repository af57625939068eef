package faulttest

import (
	"testing"
)

// The chaos run's verdicts rest on these replays: each must catch the
// violation it names, and only it.

func evBegin(run, proc string, f func(*Event)) Event {
	ev := Event{Kind: "begin", Run: run, ID: run, Proc: proc}
	if f != nil {
		f(&ev)
	}
	return ev
}

func evEnd(b Event, outcome string, f func(*Event)) Event {
	ev := b
	ev.Kind, ev.Outcome = "end", outcome
	if f != nil {
		f(&ev)
	}
	return ev
}

func TestMaxHolders(t *testing.T) {
	dep := func(ev *Event) { ev.Dep = "api" }
	a, b, c := evBegin("a", "p1", dep), evBegin("b", "p2", dep), evBegin("c", "p1", dep)
	other := evBegin("x", "p2", nil)
	for _, tc := range []struct {
		name   string
		events []Event
		want   int
	}{
		{"sequential", []Event{a, evEnd(a, "done", nil), b, evEnd(b, "done", nil)}, 1},
		{"overlapping", []Event{a, b, other, evEnd(a, "done", nil), c, evEnd(b, "done", nil), evEnd(c, "done", nil)}, 2},
		{"a kill ends the process's runs", []Event{a, c, {Kind: "kill", Proc: "p1"}, b}, 2},
		{"runs without the dependency do not count", []Event{a, other, evBegin("y", "p3", nil)}, 1},
	} {
		if got, _ := MaxHolders(tc.events, "api"); got != tc.want {
			t.Errorf("%s: MaxHolders = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestOpenRuns(t *testing.T) {
	a, b, c := evBegin("a", "p1", nil), evBegin("b", "p2", nil), evBegin("c", "p2", nil)
	got := OpenRuns([]Event{a, b, c, evEnd(a, "done", nil), {Kind: "kill", Proc: "p2"}, evBegin("d", "p2", nil)})
	if len(got) != 1 || got[0].Run != "d" {
		t.Errorf("OpenRuns = %v, want run d only", got)
	}
}

func TestFenceOrder(t *testing.T) {
	lock := func(fence int64) func(*Event) {
		return func(ev *Event) { ev.Lock, ev.Fence = "acct", fence }
	}
	lost := func(ev *Event) { ev.LockLost, ev.Cause = true, "lockstore: lock lost" }
	a, b, c := evBegin("a", "p1", lock(10)), evBegin("b", "p2", lock(11)), evBegin("c", "p1", lock(12))
	for _, tc := range []struct {
		name          string
		events, stale []Event
		want          int
	}{
		{"in order", []Event{a, evEnd(a, "done", nil), b, evEnd(b, "done", nil)}, nil, 0},
		{"accepted out of order", []Event{b, evEnd(b, "done", nil), a, evEnd(a, "done", nil)}, nil, 1},
		{"failed runs write nothing", []Event{b, evEnd(b, "done", nil), a, evEnd(a, "failed", nil)}, nil, 0},
		{"a refused write from a holder told of its loss", []Event{a, b, evEnd(b, "done", nil), evEnd(a, "done", lost)},
			[]Event{evEnd(a, "done", lost)}, 0},
		{"a refused write from a holder never told", []Event{a, b, evEnd(b, "done", nil), evEnd(a, "done", nil)},
			[]Event{evEnd(a, "done", nil)}, 1},
		{"a refused begin", []Event{c, b, evEnd(b, "stale", nil), evEnd(c, "done", nil)}, []Event{b}, 1},
	} {
		if got := FenceOrder(tc.events, tc.stale); len(got) != tc.want {
			t.Errorf("%s: FenceOrder = %v, want %d violations", tc.name, got, tc.want)
		}
	}
}

func TestUnexcusedOverlaps(t *testing.T) {
	lock := func(ev *Event) { ev.Lock = "acct" }
	a, b := evBegin("a", "p1", lock), evBegin("b", "p2", lock)
	lost := func(ev *Event) { ev.LockLost = true }
	if got := UnexcusedOverlaps([]Event{a, b, evEnd(a, "cancelled", lost), evEnd(b, "done", nil)}); len(got) != 0 {
		t.Errorf("a holder cancelled by ErrLockLost, ending after the next began: %v, want no violation", got)
	}
	if got := UnexcusedOverlaps([]Event{a, b, evEnd(a, "done", nil), evEnd(b, "done", nil)}); len(got) != 1 {
		t.Errorf("two holders at once: %v, want one violation", got)
	}
}
