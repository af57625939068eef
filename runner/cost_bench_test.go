package runner_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

// layers says which of the stack's layers a benchmark job uses.
type layers struct {
	name                  string
	dedupe, lock, breaker bool
	checkpoint            bool          // the handler resumes and saves one checkpoint
	wait                  time.Duration // the handler's I/O wait
	hand                  bool          // also measure the hand-rolled composition (costHand)
}

var costLayers = []layers{
	{name: "none"},
	{name: "breaker", breaker: true},
	{name: "dedupe", dedupe: true},
	{name: "lock", lock: true},
	{name: "all", dedupe: true, lock: true, breaker: true, hand: true},
	{name: "all+io1ms", dedupe: true, lock: true, breaker: true, wait: time.Millisecond},
	{name: "all+io10ms", dedupe: true, lock: true, breaker: true, wait: 10 * time.Millisecond},
	{name: "all+io50ms", dedupe: true, lock: true, breaker: true, wait: 50 * time.Millisecond},
	{name: "dedupe+checkpoint", dedupe: true, checkpoint: true},
}

// costSlots is the concurrency of both passes.
const costSlots = 50

// costDefinition is bench.noop with the layers of l.
func costDefinition(l layers, done func()) *job.Definition[noop] {
	d := &job.Definition[noop]{
		Type: "bench.noop",
		Handle: func(ctx context.Context, p noop) error {
			if l.wait > 0 {
				time.Sleep(l.wait)
			}
			if l.checkpoint {
				var place int
				if _, err := job.Resume(ctx, &place); err != nil {
					return err
				}
				if err := job.Checkpoint(ctx, p.N); err != nil {
					return err
				}
			}
			done()
			return nil
		},
	}
	if l.dedupe {
		d.DedupeKey = func(p noop) string { return "bench:" + strconv.Itoa(p.N) }
	}
	if l.lock {
		d.Lock = func(p noop) job.Lock { return job.Lock{Key: "bench:" + strconv.Itoa(p.N)} }
	}
	if l.breaker {
		d.Dependencies = func(noop) []string { return []string{"bench-dep"} }
	}
	return d
}

// costRun is what one pass over b.N jobs cost.
type costRun struct {
	elapsed time.Duration
	// steady is the time from the pass's first completion to its last,
	// over steadyJobs completions: the run without the worker's start.
	steady     time.Duration
	steadyJobs int
	goCPU      time.Duration
	redisCPU   float64 // seconds
	cmds       int64
	scripts    int64
	trips      int64
	allocs     uint64
	jobs       int
	st0, st1   redistest.Stats // around the last round
	stJobs     int             // the jobs of the last round
}

// costRounds is how many rounds BenchmarkCost alternates its passes in.
const costRounds = 4

// add sums o into r. The command statistics are the last round's.
func (r *costRun) add(o costRun) {
	r.elapsed += o.elapsed
	r.steady += o.steady
	r.steadyJobs += o.steadyJobs
	r.goCPU += o.goCPU
	r.redisCPU += o.redisCPU
	r.cmds += o.cmds
	r.scripts += o.scripts
	r.trips += o.trips
	r.allocs += o.allocs
	r.jobs += o.jobs
	r.st0, r.st1, r.stJobs = o.st0, o.st1, o.jobs
}

// jobsPerS is the pass's throughput.
func (r costRun) jobsPerS() float64 { return float64(r.jobs) / r.elapsed.Seconds() }

// slotTime is the time each job holds a worker slot, with every slot busy
// (the jobs are enqueued beforehand): costSlots over the throughput from
// the first completion to the last (Little's law), so that the worker's
// start does not count.
func (r costRun) slotTime() time.Duration {
	return time.Duration(float64(costSlots) * float64(r.steady) / float64(r.steadyJobs))
}

// BenchmarkCost is the cost table of BENCHMARKS.md: for each topology and
// each set of layers, b.N jobs enqueued beforehand run through bare asynq
// (a ServeMux with the same handler) and through the runner with only
// those layers, on one private Redis, at concurrency 50, the two passes
// alternating in costRounds rounds of b.N/costRounds jobs; it reports the
// runner's figures per job and the ratio and differences to bare asynq
// measured in the same run.
//
// Topologies: "shared", Redis and the worker on the same 2 cores as they
// come; "pinned", Redis pinned to core 0 and the worker to core 1 (taskset),
// the shape of a deployment where Redis has a machine of its own.
//
//	go test -run '^$' -bench Cost -benchtime 30000x -count 3 ./runner/
func BenchmarkCost(b *testing.B) {
	for _, topo := range []string{"shared", "pinned"} {
		for _, l := range costLayers {
			b.Run(fmt.Sprintf("topology=%s/layers=%s", topo, l.name), func(b *testing.B) {
				opts := redistest.Options{}
				if topo == "pinned" {
					if runtime.NumCPU() < 2 {
						b.Skip("pinning needs 2 CPUs")
					}
					opts.CPUs = []int{0}
					restore, err := redistest.PinProcess(1)
					if err != nil {
						b.Skip(err)
					}
					defer restore()
				}
				srv := redistest.StartWith(b, opts)
				rdb := srv.Client()
				trips := &tripCounter{}
				rdb.AddHook(trips)
				// The two passes alternate in costRounds rounds, so that the
				// drift of a shared machine's speed touches both alike.
				var bare, stack, hand costRun
				chunk := max(b.N/costRounds, 1)
				for first := 0; first < b.N; first += chunk {
					jobs := min(chunk, b.N-first)
					bare.add(costPass(b, "bare", rdb, trips, first, jobs, func(done func()) func() { return costBare(b, rdb, l, done) }))
					if l.hand {
						hand.add(costPass(b, "hand", rdb, trips, first, jobs, func(done func()) func() { return costHand(b, rdb, l, done) }))
					}
					stack.add(costPass(b, "stack", rdb, trips, first, jobs, func(done func()) func() { return costStack(b, rdb, l, done) }))
				}
				n := float64(b.N)
				if l.hand {
					// The hand-rolled composition's row, from the same rounds.
					b.ReportMetric(hand.jobsPerS(), "hand-jobs/s")
					b.ReportMetric(hand.jobsPerS()/bare.jobsPerS(), "hand-ratio")
					b.ReportMetric(stack.jobsPerS()/hand.jobsPerS(), "ratio-to-hand")
					b.ReportMetric((hand.redisCPU-bare.redisCPU)*1e6/n, "hand-added-redis-cpu-µs/op")
					b.ReportMetric(float64(hand.cmds)/n, "hand-rediscmds/op")
					b.ReportMetric(float64(hand.scripts-bare.scripts)/n, "hand-added-scripts/op")
					b.ReportMetric(float64(hand.trips)/n, "hand-roundtrips/op")
					b.ReportMetric(float64(hand.goCPU-bare.goCPU)/float64(time.Microsecond)/n, "hand-added-go-cpu-µs/op")
					b.ReportMetric(float64(hand.allocs-bare.allocs)/n, "hand-added-allocs/job")
				}
				if testing.Verbose() {
					logCommands(b, "bare", bare)
					logCommands(b, "stack", stack)
				}
				b.ReportMetric(stack.jobsPerS(), "jobs/s")
				b.ReportMetric(bare.jobsPerS(), "bare-jobs/s")
				b.ReportMetric(stack.jobsPerS()/bare.jobsPerS(), "ratio")
				b.ReportMetric(stack.redisCPU*1e6/n, "redis-cpu-µs/op")
				b.ReportMetric((stack.redisCPU-bare.redisCPU)*1e6/n, "added-redis-cpu-µs/op")
				b.ReportMetric(float64(stack.cmds)/n, "rediscmds/op")
				b.ReportMetric(float64(stack.cmds-bare.cmds)/n, "added-rediscmds/op")
				b.ReportMetric(float64(stack.scripts-bare.scripts)/n, "added-scripts/op")
				b.ReportMetric(float64(stack.trips)/n, "roundtrips/op")
				b.ReportMetric(float64(stack.goCPU)/float64(time.Microsecond)/n, "go-cpu-µs/op")
				b.ReportMetric(float64(stack.goCPU-bare.goCPU)/float64(time.Microsecond)/n, "added-go-cpu-µs/op")
				b.ReportMetric(float64(stack.allocs)/n, "allocs/job")
				b.ReportMetric(float64(stack.allocs-bare.allocs)/n, "added-allocs/job")
				if l.wait > 0 {
					// What the layers add to the time a job holds a slot.
					b.ReportMetric(float64(stack.slotTime()-bare.slotTime())/float64(time.Microsecond), "added-latency-µs/job")
				}
			})
		}
	}
}

// costPass enqueues jobs jobs (numbered from first, so that no two rounds
// share a dedupe key), then runs them with what start starts, and
// measures the run.
func costPass(b *testing.B, pass string, rdb *redis.Client, trips *tripCounter, first, jobs int, start func(done func()) (stop func())) costRun {
	client := asynq.NewClientFromRedisClient(rdb)
	for i := first; i < first+jobs; i++ {
		if _, err := client.Enqueue(asynq.NewTask("bench.noop", []byte(`{"n":`+strconv.Itoa(i)+`}`))); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	var firstDone, lastDone atomic.Int64 // UnixNano
	all := make(chan struct{})
	done := func() {
		now := time.Now().UnixNano()
		firstDone.CompareAndSwap(0, now)
		if n.Add(1) == int64(jobs) {
			lastDone.Store(now)
			close(all)
		}
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	st0, trips0, cpu0, t0 := redistest.ReadStats(b, rdb), trips.Trips.Load(), processCPU(), time.Now()
	// The pass's goroutines carry its label, so a -cpuprofile can tell
	// the two apart: go tool pprof -tagfocus pass=stack.
	var stop func()
	pprof.Do(context.Background(), pprof.Labels("pass", pass), func(context.Context) { stop = start(done) })
	<-all
	elapsed := time.Since(t0)
	// Let the last completions land before counting.
	time.Sleep(100 * time.Millisecond)
	cpu1, trips1 := processCPU(), trips.Trips.Load()
	runtime.ReadMemStats(&m1)
	st1 := redistest.ReadStats(b, rdb)
	stop()
	return costRun{
		elapsed:    elapsed,
		steady:     time.Duration(lastDone.Load() - firstDone.Load()),
		steadyJobs: jobs - 1,
		goCPU:      cpu1 - cpu0,
		redisCPU:   st1.CPU - st0.CPU,
		cmds:       st1.Total - st0.Total,
		scripts:    st1.Scripts() - st0.Scripts(),
		trips:      trips1 - trips0,
		allocs:     m1.Mallocs - m0.Mallocs,
		jobs:       jobs,
		st0:        st0,
		st1:        st1,
		stJobs:     jobs,
	}
}

func costBare(b *testing.B, rdb *redis.Client, l layers, done func()) func() {
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: costSlots, TaskCheckInterval: runner.PollIntervalDefault, LogLevel: asynq.ErrorLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("bench.noop", func(context.Context, *asynq.Task) error {
		if l.wait > 0 {
			time.Sleep(l.wait)
		}
		done()
		return nil
	})
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	return srv.Shutdown
}

func costStack(b *testing.B, rdb *redis.Client, l layers, done func()) func() {
	// Buckets of about 33 completed records each by the end of a pass, as
	// docs/capacity.md sizes them (the default 4,096 would hold 2 or 3).
	r, err := runner.New(runner.Config{Redis: rdb, Concurrency: costSlots, DedupeBuckets: max(1, b.N/33)})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Register(costDefinition(l, done)); err != nil {
		b.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return func() { _ = r.Shutdown(context.Background()) }
}

// logCommands logs, per job, the calls and the microseconds Redis spent in
// each command of a pass (with -v): where the Redis CPU goes. A script's
// time includes the commands it calls, which are also listed.
func logCommands(b *testing.B, pass string, r costRun) {
	n := float64(r.stJobs)
	for cmd, calls := range r.st1.Calls {
		if d := calls - r.st0.Calls[cmd]; d > 0 {
			b.Logf("%s %-10s %6.2f calls/job %6.2f µs/job", pass, cmd, float64(d)/n, float64(r.st1.Usec[cmd]-r.st0.Usec[cmd])/n)
		}
	}
}
