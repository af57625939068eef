package faulttest

import (
	"fmt"
	"slices"
	"strings"
)

// The replays below read the ledger's event list, which is the total order
// of what every process reported; a kill event ends the open runs of its
// process (it is written once the process is dead).

// MaxHolders replays events and returns the most runs that held dependency
// dep at once (from their begin to their end, or their process's kill),
// and the begin event that reached that count.
func MaxHolders(events []Event, dep string) (int, Event) {
	open := map[string]Event{} // run -> begin
	most, at := 0, Event{}
	for _, ev := range events {
		switch {
		case ev.Kind == "begin" && ev.Dep == dep:
			open[ev.Run] = ev
			if len(open) > most {
				most, at = len(open), ev
			}
		case ev.Kind == "end":
			delete(open, ev.Run)
		case ev.Kind == "kill":
			for run, b := range open {
				if b.Proc == ev.Proc {
					delete(open, run)
				}
			}
		}
	}
	return most, at
}

// OpenRuns returns the runs that began and neither ended nor had their
// process killed: a handler that never returned, or a worker that exited
// while one still ran.
func OpenRuns(events []Event) []Event {
	open := map[string]Event{}
	for _, ev := range events {
		switch ev.Kind {
		case "begin":
			open[ev.Run] = ev
		case "end":
			delete(open, ev.Run)
		case "kill":
			for run, b := range open {
				if b.Proc == ev.Proc {
					delete(open, run)
				}
			}
		}
	}
	return sortedRuns(open)
}

// FenceViolation is a write the fenced resource accepted out of fence
// order, or one it refused from a holder that had not been told its lock
// was lost.
type FenceViolation struct {
	Lock string
	// Write is the run's end event (for a refused write, its stale entry);
	// Prev, for an accepted write, is the accepted write it did not follow
	// in fence order.
	Write, Prev Event
	Refused     bool
}

func (v FenceViolation) String() string {
	if v.Refused {
		return fmt.Sprintf("lock %q: run %s (job %s, proc %s, fence %d) ran after a newer grant and was not told its lock was lost (%s %q, cause %q)",
			v.Lock, v.Write.Run, v.Write.ID, v.Write.Proc, v.Write.Fence, v.Write.Kind, v.Write.Outcome, v.Write.Cause)
	}
	return fmt.Sprintf("lock %q: the resource accepted run %s's write (job %s, fence %d) after run %s's (job %s, fence %d)",
		v.Lock, v.Write.Run, v.Write.ID, v.Write.Fence, v.Prev.Run, v.Prev.ID, v.Prev.Fence)
}

// FenceOrder checks the fenced resource's writes: per lock key, the
// writes it accepted (runs that ended done and are not in stale) must
// carry strictly increasing fences in the order they happened, and every
// write it refused (stale, the ledger's Stale list) must come from a run
// whose lease had run out and which was told so (lockcore.ErrLockLost in
// its context's cause): refusing that write is the fence doing its job. A
// refused write from a run that was never told, or a refused begin (a
// holder that started after a newer grant), means two holders believed
// they held the lock at once.
func FenceOrder(events, stale []Event) []FenceViolation {
	refused := map[string]bool{}
	var out []FenceViolation
	for _, s := range stale {
		refused[s.Run+"/"+s.Kind] = true
		if s.Kind != "end" || !s.LockLost {
			out = append(out, FenceViolation{Lock: s.Lock, Write: s, Refused: true})
		}
	}
	last := map[string]Event{} // lock -> last accepted write
	for _, ev := range events {
		if ev.Kind != "end" || ev.Lock == "" || ev.Outcome != "done" || refused[ev.Run+"/end"] {
			continue
		}
		if prev, ok := last[ev.Lock]; ok && ev.Fence <= prev.Fence {
			out = append(out, FenceViolation{Lock: ev.Lock, Write: ev, Prev: prev})
		}
		last[ev.Lock] = ev
	}
	slices.SortStableFunc(out, func(a, b FenceViolation) int { return strings.Compare(a.Lock, b.Lock) })
	return out
}

// UnexcusedOverlaps returns the overlaps (Overlaps) in which the run that
// held the resource was not told it had lost it: its end event does not
// carry lockcore.ErrLockLost. A run whose lease ran out (Redis stopped for
// longer than its TTL) is cancelled at its deadline, and a new holder may
// begin before the old one's end reaches the ledger; that overlap is the
// one the fence exists for, and FenceOrder checks its writes.
func UnexcusedOverlaps(events []Event) []Overlap {
	ends := map[string]Event{}
	for _, ev := range events {
		if ev.Kind == "end" {
			ends[ev.Run] = ev
		}
	}
	var out []Overlap
	for _, o := range Overlaps(events) {
		if !ends[o.Held.Run].LockLost {
			out = append(out, o)
		}
	}
	return out
}
