package faulttest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
)

// fault is one step of the chaos plan: at is its time from the start of
// the run.
type fault struct {
	at   time.Duration
	name string
	do   func()
}

// plan draws the faults of a run of length window from rng: two tracks
// that overlap in time, each one fault at a time. The Redis track stops
// Redis, slows or cuts the workers' link to it, or kills and restarts it;
// the worker track SIGKILLs or SIGTERMs one worker process and starts a
// new one in its place. Every fault ends (Redis continued or restarted,
// toxic removed, worker started) before the plan does.
func (c *chaos) plan(rng *rand.Rand, window time.Duration) []fault {
	dur := func(lo, hi time.Duration) time.Duration {
		return (lo + time.Duration(rng.Int64N(int64(hi-lo)))).Round(10 * time.Millisecond)
	}
	var plan []fault
	add := func(kind string, at, d time.Duration, what string, begin, end func()) {
		plan = append(plan,
			fault{at: at, name: fmt.Sprintf("%s for %v", what, d), do: func() { c.faults[kind]++; begin() }},
			fault{at: at + d, name: "end: " + what, do: end})
	}
	for at := dur(time.Second, 3*time.Second); at < window; {
		var d time.Duration
		switch rng.IntN(4) {
		case 0:
			d = dur(300*time.Millisecond, 6*time.Second)
			add("redis_paused", at, d, "Redis stopped (SIGSTOP)", c.e.redis.Pause, c.e.redis.Resume)
		case 1:
			ms := 50 + rng.IntN(650)
			d = dur(time.Second, 3*time.Second)
			var rm func()
			add("latency", at, d, fmt.Sprintf("latency %dms ±%dms on every reply", ms, ms/4),
				func() { rm = c.e.proxy.Latency(ms, ms/4) }, func() { rm() })
		case 2:
			d = dur(500*time.Millisecond, 4*time.Second)
			var rm func()
			add("link_dropped", at, d, "link to Redis drops requests (toxiproxy timeout)",
				func() { rm = c.e.proxy.Blackhole() }, func() { rm() })
		default:
			d = dur(200*time.Millisecond, 4*time.Second)
			add("redis_killed", at, d, "Redis killed (SIGKILL), then restarted from its AOF", c.e.redis.Kill, c.e.redis.Restart)
		}
		at += d + dur(500*time.Millisecond, 2500*time.Millisecond)
	}
	for at := dur(2*time.Second, 5*time.Second); at < window; {
		i := rng.IntN(chaosSlots)
		d := dur(200*time.Millisecond, 1500*time.Millisecond)
		if rng.IntN(2) == 0 {
			add("worker_killed", at, d, fmt.Sprintf("worker %d SIGKILLed, then a new one started", i),
				func() { c.kill(i) }, func() { c.start(i) })
		} else {
			add("worker_terminated", at, d, fmt.Sprintf("worker %d SIGTERMed (drains), and a new one started", i),
				func() { c.term(i) }, func() { c.start(i) })
		}
		at += d + dur(2*time.Second, 5*time.Second)
	}
	slices.SortStableFunc(plan, func(a, b fault) int { return int(a.at - b.at) })
	return plan
}

// run carries out the plan, restarting workers that exit unasked.
func (c *chaos) run(plan []fault) {
	start := time.Now()
	for _, f := range plan {
		for d := time.Until(start.Add(f.at)); d > 0; d = time.Until(start.Add(f.at)) {
			time.Sleep(min(d, 200*time.Millisecond))
			c.supervise()
		}
		f.do()
		c.t.Logf("%6.2fs %s", time.Since(start).Seconds(), f.name)
	}
	c.supervise()
}

// settle waits, from healed (the end of the last fault), until every job
// enqueued is completed or archived and every tick up to 2s ago has run,
// at most chaosSettleMax. Each chaosAbandoned it makes the leases that no
// live worker extends look expired and starts a worker to recover them
// (sweep).
func (c *chaos) settle(healed time.Time) {
	c.t.Helper()
	next, report := healed.Add(chaosAbandoned), time.Now().Add(5*time.Second)
	for {
		c.supervise()
		missing := c.unsettled(time.Now().Add(-2 * time.Second))
		if len(missing) == 0 {
			return
		}
		if time.Since(healed) > chaosSettleMax {
			if len(missing) > 20 {
				missing = append(missing[:20], fmt.Sprintf("... %d in all", len(missing)))
			}
			c.t.Fatalf("not settled %v after the last fault: %s", chaosSettleMax, strings.Join(missing, "; "))
		}
		if time.Now().After(report) {
			report = time.Now().Add(5 * time.Second)
			c.t.Logf("settle: %v after the last fault, %d unsettled, first: %s", time.Since(healed).Round(time.Second), len(missing), missing[0])
		}
		if time.Now().After(next) {
			next = time.Now().Add(chaosAbandoned)
			c.sweep()
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// unsettled lists the jobs not yet in a final state and the ticks up to
// until that have not run.
func (c *chaos) unsettled(until time.Time) []string {
	states := c.e.states()
	var out []string
	c.mu.Lock()
	for id := range c.jobs {
		if st := states[id]; st != asynq.TaskStateCompleted && st != asynq.TaskStateArchived {
			out = append(out, fmt.Sprintf("job %s is %s", id, stateName(st)))
		}
	}
	c.mu.Unlock()
	done := c.e.counts((*Ledger).Done)
	for tick := c.tickFrom; !tick.After(until); tick = tick.Add(time.Second) {
		if id := tickID(tick); done[id] == 0 {
			out = append(out, fmt.Sprintf("tick %s has not run (task %s)", id, stateName(states[id])))
		} else {
			c.tickTo = tick
		}
	}
	slices.Sort(out)
	return out
}

// stateName names a task's state; the zero state is a task not in Redis
// (never enqueued, or deleted after its retention).
func stateName(st asynq.TaskState) string {
	if st == 0 {
		return "not in Redis"
	}
	return st.String()
}

// tickID is the task ID of the chaos schedule's tick (runner's
// schedule:<name>:<tick in UTC, RFC 3339>).
func tickID(tick time.Time) string {
	return "schedule:" + chaosScheduleName + ":" + tick.UTC().Format(time.RFC3339)
}

// sweep makes the leases that no live worker has extended for
// chaosAbandoned look expired to asynq's lease recovery, and replaces a
// worker (SIGTERM, and a new one) whose recovery runs as it starts.
func (c *chaos) sweep() {
	c.t.Helper()
	rdb, ctx := c.e.admin, context.Background()
	key := strings.TrimSuffix(asynqdb.TaskKey("default", ""), "t:") + "lease"
	// A live worker's lease runs 30s from its last extension.
	cutoff := float64(time.Now().Add(30*time.Second - chaosAbandoned).Unix())
	leases, err := rdb.ZRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{Min: "-inf", Max: fmt.Sprint(cutoff)}).Result()
	if err != nil || len(leases) == 0 {
		return
	}
	var ids []string
	for _, l := range leases {
		ids = append(ids, fmt.Sprintf("%s (lease to %s)", l.Member, time.Unix(int64(l.Score), 0).Format(time.TimeOnly)))
	}
	old := float64(time.Now().Add(-time.Minute).Unix())
	for _, l := range leases {
		id := l.Member.(string)
		if err := rdb.ZAddXX(ctx, key, redis.Z{Score: old, Member: id}).Err(); err != nil {
			c.t.Fatal(err)
		}
	}
	c.sweeps++
	i := c.sweeps % chaosSlots
	c.t.Logf("settle: at %s, %d abandoned leases (%v) made to look expired; worker %d replaced to recover them",
		time.Now().Format(time.TimeOnly), len(ids), ids, i)
	c.term(i)
	c.start(i)
}

// drainAll stops every worker with SIGTERM, now that nothing faults:
// each must exit 0 (a clean drain) within MaxDrain.
func (c *chaos) drainAll() {
	c.t.Helper()
	for i := range c.slots {
		c.term(i)
	}
	deadline := time.Now().Add(chaosDrainMax + 10*time.Second)
	for _, p := range c.procs {
		select {
		case <-p.w.Done():
		case <-time.After(time.Until(deadline)):
			c.t.Fatalf("%s did not exit within %v of SIGTERM", p.name, chaosDrainMax+10*time.Second)
		}
	}
	// The drain watchers note the exits.
	waitFor(c.t, 5*time.Second, "the drains to be noted", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		n := 0
		for _, p := range c.procs {
			if !p.termSent.IsZero() {
				n++
			}
		}
		return len(c.drains) == n
	})
}
