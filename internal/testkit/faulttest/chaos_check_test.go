package faulttest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
)

// check gives the chaos run's verdicts, then logs its figures.
func (c *chaos) check() {
	c.t.Helper()
	evs := c.events()
	stale, err := c.e.ledger.Stale(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	doubled := c.checkEffects(evs, stale)
	for i, v := range FenceOrder(evs, stale) {
		if i == 10 {
			c.t.Errorf("... and more fence violations")
			break
		}
		c.t.Errorf("fenced resource: %v", v)
	}
	for i, o := range UnexcusedOverlaps(evs) {
		if i == 10 {
			c.t.Errorf("... and more overlaps")
			break
		}
		c.t.Errorf("overlap: %v", o)
	}
	for _, r := range OpenRuns(evs) {
		c.t.Errorf("run %s (job %s, proc %s) began and never ended, though its process was not killed", r.Run, r.ID, r.Proc)
	}
	for _, ev := range evs {
		if ev.Kind == "begin" && ev.Lock != "" && ev.Fence <= 0 {
			c.t.Errorf("job %s (run %s) asked for lock %q and ran without it", ev.ID, ev.Run, ev.Lock)
		}
	}
	most, at := MaxHolders(evs, chaosDep)
	if most > chaosDepLimit {
		c.t.Errorf("dependency %s: %d runs at once (reached by run %s of job %s), limit %d", chaosDep, most, at.Run, at.ID, chaosDepLimit)
	}
	ticks := c.checkTicks()
	c.checkQueue()
	keys := c.checkKeys()
	for _, u := range c.unexpect {
		c.t.Errorf("worker exited unasked: %s", u)
	}
	var drainMax time.Duration
	for _, d := range c.drains {
		drainMax = max(drainMax, d.took)
		if d.took > chaosDrainMax {
			c.t.Errorf("%s's drain took %v, more than MaxDrain %v", d.proc, d.took, chaosDrainMax)
		}
		if d.afterFaults && d.code != 0 {
			if why := c.staleSyncErrors(d.proc); why != "" {
				c.t.Logf("%s's drain after the faults exited %d: %s", d.proc, d.code, why)
				continue
			}
			c.t.Errorf("%s's drain after the faults exited %d, want 0 (a clean drain)", d.proc, d.code)
		}
	}

	lost := 0
	for _, ev := range evs {
		if ev.Kind == "end" && ev.LockLost {
			lost++
		}
	}
	tasks := len(c.jobs)
	c.t.Logf("chaos: %d jobs (%d tasks, %d dedupe keys) and %d ticks under %d faults %v in %v; settled %v after the last fault (%d lease sweeps); "+
		"%d runs lost their lease and were told, %d writes refused by the fence, %d effects applied again after their process ended before the completion record; "+
		"dependency %s held by at most %d of %d; drains at most %v (MaxDrain %v); Redis keys %v",
		len(c.groups), tasks, len(c.groups), ticks, c.faultCount(), c.faults, chaosWindow, c.settled.Round(100*time.Millisecond), c.sweeps,
		lost, len(stale), doubled, chaosDep, most, chaosDepLimit, drainMax.Round(10*time.Millisecond), chaosDrainMax, keys)
}

func (c *chaos) faultCount() int {
	n := 0
	for _, v := range c.faults {
		n += v
	}
	return n
}

func (c *chaos) events() []Event {
	c.t.Helper()
	evs, err := c.e.ledger.Events(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	return evs
}

// checkEffects checks that every dedupe key's effect was applied once
// (none for the jobs that fail for good), and returns how many were
// applied again for a reason the README gives (excused): the process of
// the run that applied the earlier one ended before it wrote the job's
// completion record, SIGKILLed or in a drain that Redis did not answer,
// or the run's lease ran out and it was told so (ErrLockLost). Ticks are
// dedupe keys too (their task IDs).
func (c *chaos) checkEffects(evs, stale []Event) (doubled int) {
	c.t.Helper()
	refused := map[string]bool{}
	for _, s := range stale {
		refused[s.Run] = true
	}
	applied := map[string][]Event{} // dedupe key -> the runs that applied its effect
	for _, ev := range evs {
		if ev.Kind == "end" && ev.Outcome == "done" && ev.Dedupe != "" && !refused[ev.Run] {
			applied[ev.Dedupe] = append(applied[ev.Dedupe], ev)
		}
	}
	effects := c.e.counts((*Ledger).Effects)
	for key, runs := range applied {
		if effects[key] != len(runs) {
			c.t.Errorf("dedupe key %s: the ledger counts %d effects, its events %d", key, effects[key], len(runs))
		}
		for _, r := range runs[:len(runs)-1] {
			if why := c.excused(r); why != "" {
				doubled++
				c.t.Logf("dedupe key %s applied again after run %s (%s)", key, r.Run, why)
				continue
			}
			c.t.Errorf("dedupe key %s: effect applied %d times (runs %v); run %s (job %s, proc %s) completed its effect and its process was not killed in the completion window",
				key, len(runs), runNames(runs), r.Run, r.ID, r.Proc)
		}
	}
	for key, ids := range c.groups {
		p := c.jobs[ids[0]]
		switch n := len(applied[key]); {
		case p.Fail == "permanent" && n != 0:
			c.t.Errorf("dedupe key %s (jobs %v) fails for good, and its effect was applied %d times", key, ids, n)
		case p.Fail != "permanent" && n == 0:
			c.t.Errorf("dedupe key %s (jobs %v): effect never applied: lost", key, ids)
		}
	}
	return doubled
}

// excused says why run r's effect may be applied again, or "".
func (c *chaos) excused(r Event) string {
	if r.LockLost {
		return "its lease ran out and it was told: " + r.Cause
	}
	p := c.procs[r.Proc]
	if p == nil {
		return ""
	}
	for _, l := range p.w.Lines("drain.unsettled") {
		if ids, _ := l["task_ids"].([]any); slices.Contains(ids, any(r.ID)) {
			return fmt.Sprintf("%s's drain ended on time while Redis did not answer, before job %s's completion was written (drain.unsettled)", r.Proc, r.ID)
		}
	}
	if p.killed.IsZero() {
		return ""
	}
	for _, l := range p.w.Lines("") {
		if ev := l.Str("event"); (ev == "job.done" || ev == "job.skipped") && l.Str("task_id") == r.ID {
			return ""
		}
	}
	return fmt.Sprintf("%s was SIGKILLed %v after the effect, before job %s's completion",
		r.Proc, p.killed.Sub(time.Unix(0, r.UnixNano)).Round(time.Millisecond), r.ID)
}

// staleSyncErrors explains a drain that exited 1 although nothing failed
// while it ran, or returns "": asynq's syncer retries an outcome it could
// not write (a task's move out of active, during an outage) until the
// task's lease deadline, with a context already cancelled, so the retries
// fail; at shutdown it tries the pending ones once more and logs each
// failure as an error, which the runner counts against the drain. The
// task itself is left to lease recovery, as when the first write failed.
func (c *chaos) staleSyncErrors(proc string) string {
	p := c.procs[proc]
	if !strings.Contains(p.w.Stderr(), "drain not clean: asynq reported") {
		return ""
	}
	lines := p.w.Lines("")
	warned := map[string]bool{}
	var repeated []string
	draining := false
	for _, l := range lines {
		msg := l.Str("message")
		switch {
		case l.Str("event") == "drain.started":
			draining = true
		case l.Str("component") != "asynq":
		case !draining && l.Str("level") == "warn" && strings.HasSuffix(msg, "; Will retry syncing"):
			warned[strings.TrimSuffix(msg, "; Will retry syncing")] = true
		case draining && l.Str("level") == "error":
			if !warned[msg] {
				return ""
			}
			repeated = append(repeated, msg)
		}
	}
	if len(repeated) == 0 {
		return ""
	}
	return fmt.Sprintf("asynq's syncer repeated, at shutdown, %d outcome writes that had failed before the drain (first: %s)", len(repeated), repeated[0])
}

func runNames(runs []Event) []string {
	out := make([]string, len(runs))
	for i, r := range runs {
		out[i] = r.Run
	}
	return out
}

// checkTicks checks that every tick from tickFrom to tickTo ran (its
// effect counted by checkEffects), and that no tick was archived; it
// returns how many ticks it checked.
func (c *chaos) checkTicks() int {
	c.t.Helper()
	done := c.e.counts((*Ledger).Done)
	n := 0
	for tick := c.tickFrom; !tick.After(c.tickTo); tick = tick.Add(time.Second) {
		n++
		if id := tickID(tick); done[id] == 0 {
			c.t.Errorf("tick %s never ran", id)
		}
	}
	if n < int(chaosWindow/time.Second) {
		c.t.Errorf("only %d ticks checked (%v to %v), want at least %d", n, c.tickFrom, c.tickTo, int(chaosWindow/time.Second))
	}
	return n
}

// checkQueue checks the queue after the final drain: only the jobs that
// fail for good are archived, nothing is active, scheduled or waiting
// for a retry, and only ticks due after the checked ones are pending.
func (c *chaos) checkQueue() {
	c.t.Helper()
	states := c.e.states()
	for _, id := range slices.Sorted(maps.Keys(states)) {
		st := states[id]
		p, isJob := c.jobs[id]
		switch {
		case st == asynq.TaskStateArchived && !(isJob && p.Fail == "permanent"):
			c.t.Errorf("task %s archived, but it does not fail for good", id)
		case isJob && p.Fail == "permanent" && st != asynq.TaskStateArchived:
			c.t.Errorf("job %s fails for good and is %v, want archived", id, st)
		case st == asynq.TaskStateCompleted || st == asynq.TaskStateArchived:
		case st == asynq.TaskStatePending && strings.HasPrefix(id, "schedule:") && id > tickID(c.tickTo):
			// enqueued as the workers drained
		default:
			c.t.Errorf("task %s is %v after the final drain", id, st)
		}
	}
	for id := range c.jobs {
		if _, ok := states[id]; !ok {
			c.t.Errorf("job %s is not in the queue at all: lost", id)
		}
	}
}
