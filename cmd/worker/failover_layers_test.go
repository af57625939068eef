package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/fleet"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// TestFailoverEveryLayer is TestFailover with every layer on at once:
// 1,000 jobs with dedupe keys, locks and a dependency capped at 6
// concurrent holders across both workers, and a schedule ticking every
// second (its ticks deduped per tick), while the primary of the queue's
// slot is killed. On a cluster the limit's and the schedule's keys are
// placed on that same primary (their names are picked so), so the
// failover takes them too. Checked: nothing archived, every tick between
// the first and the last that ran ran once (none lost, none doubled), and
// the limit's holders in Redis never exceed the cap after the promotion.
func TestFailoverEveryLayer(t *testing.T) {
	t.Parallel()
	for _, topo := range redistest.Topologies() {
		if topo.Name == "single" {
			continue // no replica to fail over to
		}
		t.Run(topo.Name, func(t *testing.T) {
			t.Parallel()
			env := topo.Start(t)
			queuePrimary := env.PrimaryFor(asynqdb.PendingKey("default"))
			dep, sched := "", ""
			for i := 0; dep == "" || sched == ""; i++ {
				if d := fmt.Sprint("failover-dep-", i); dep == "" && env.PrimaryFor(slotsKey(d)) == queuePrimary {
					dep = d
				}
				if s := fmt.Sprint("failover-tick-", i); sched == "" && env.PrimaryFor(fleet.ScheduleLastKey(s)) == queuePrimary {
					sched = s
				}
			}
			const limit = 6
			var recovered atomic.Bool
			var peakAfter atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() { // the limit's holders, as Redis has them
				for {
					select {
					case <-stop:
						return
					case <-time.After(5 * time.Millisecond):
					}
					ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
					n, err := env.Client.ZCard(ctx, slotsKey(dep)).Result()
					cancel()
					if err == nil && recovered.Load() && n > peakAfter.Load() {
						peakAfter.Store(n)
					}
				}
			})
			var ws []*workertest.Worker
			res := workertest.RunBatch(t, workertest.BatchConfig{
				Env: env, Jobs: 1000, Workers: 2, Concurrency: 16, Timeout: 90 * time.Second, Dependency: dep,
				WorkerEnv: []string{
					fmt.Sprintf("WORKER_DEPENDENCY_LIMITS=%s=concurrency:%d", dep, limit),
					fmt.Sprintf(`WORKER_SCHEDULES=@every 1s demo.sleep {"ms":1,"dedupe":"tick"} name=%s`, sched),
				},
				Fault: func(w []*workertest.Worker) {
					ws = w
					failover(t, env, w)
					recovered.Store(true)
				},
			})
			close(stop)
			wg.Wait()
			t.Logf("%s: %v; tasks lost %v, left %v, to run again %v; limit holders after the promotion at most %d (cap %d)",
				env.Name, res, res.TasksLost, res.TasksLeft, res.Rerun, peakAfter.Load(), limit)
			if res.Archived != 0 {
				t.Errorf("%d tasks archived by the failover", res.Archived)
			}
			if bad := len(res.Doubled) + len(res.Lost) + len(res.Rerun); bad > res.Jobs/50 {
				t.Errorf("%d jobs doubled or lost by one failover: %v", bad, res)
			}
			if p := peakAfter.Load(); p > limit {
				t.Errorf("%d holders of %s after the promotion, cap %d", p, dep, limit)
			}
			checkTicks(t, ws, sched)
		})
	}
}

// slotsKey is the Redis key of a dependency's concurrency holders
// (lockstore's, default prefix).
func slotsKey(dep string) string { return "jobrunner:{limit:" + dep + "}:slots" }

// checkTicks checks that each of the schedule's ticks from the first that
// ran to the last ran exactly once (job.done of the tick's task or its
// copy, across workers).
func checkTicks(t *testing.T, ws []*workertest.Worker, sched string) {
	t.Helper()
	prefix := "schedule:" + sched + ":"
	runs := map[time.Time]int{}
	for _, w := range ws {
		for _, l := range w.Lines("job.done") {
			id, ok := strings.CutPrefix(l.Str("task_id"), prefix)
			if !ok {
				continue
			}
			id, _, _ = strings.Cut(id, "~") // a copy runs its tick
			at, err := time.Parse(time.RFC3339, id)
			if err != nil {
				t.Errorf("tick task %s: %v", l.Str("task_id"), err)
				continue
			}
			runs[at]++
		}
	}
	if len(runs) < 5 {
		t.Fatalf("%d ticks ran, want the run's length in seconds", len(runs))
	}
	ticks := make([]time.Time, 0, len(runs))
	for at := range runs {
		ticks = append(ticks, at)
	}
	slices.SortFunc(ticks, func(a, b time.Time) int { return a.Compare(b) })
	var lost []string
	for at := ticks[0]; !at.After(ticks[len(ticks)-1]); at = at.Add(time.Second) {
		switch runs[at] {
		case 0:
			lost = append(lost, at.Format(time.TimeOnly))
		case 1:
		default:
			t.Errorf("tick %s ran %d times", at.Format(time.TimeOnly), runs[at])
		}
	}
	if len(lost) > 0 {
		t.Errorf("ticks lost: %v", lost)
	}
	t.Logf("%d ticks from %s to %s, each ran once", len(ticks), ticks[0].Format(time.TimeOnly), ticks[len(ticks)-1].Format(time.TimeOnly))
}
