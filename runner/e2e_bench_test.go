package runner_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

// noop is the benchmark's payload: its keys make every layer of the stack
// work on every job (a dedupe key, a lock and a breaker dependency).
type noop struct {
	N int `json:"n"`
}

func noopDefinition(done func()) *job.Definition[noop] {
	return &job.Definition[noop]{
		Type:         "bench.noop",
		Handle:       func(context.Context, noop) error { done(); return nil },
		DedupeKey:    func(p noop) string { return "bench:" + strconv.Itoa(p.N) },
		Lock:         func(p noop) job.Lock { return job.Lock{Key: "bench:" + strconv.Itoa(p.N)} },
		Dependencies: func(noop) []string { return []string{"bench-dep"} },
	}
}

// stack starts something that processes bench.noop tasks on rdb and
// returns its stop function.
type stack func(b *testing.B, rdb redis.UniversalClient, concurrency int, done func()) (stop func())

func bareAsynq(b *testing.B, rdb redis.UniversalClient, concurrency int, done func()) func() {
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: concurrency, TaskCheckInterval: runner.PollIntervalDefault, LogLevel: asynq.ErrorLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc("bench.noop", func(context.Context, *asynq.Task) error { done(); return nil })
	if err := srv.Start(mux); err != nil {
		b.Fatal(err)
	}
	return srv.Shutdown
}

func fullStack(b *testing.B, rdb redis.UniversalClient, concurrency int, done func()) func() {
	r, err := runner.New(runner.Config{Redis: rdb, Concurrency: concurrency})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Register(noopDefinition(done)); err != nil {
		b.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return func() { _ = r.Shutdown(context.Background()) }
}

var stacks = []namedStack{{"bare-asynq", bareAsynq}, {"full-stack", fullStack}}

// BenchmarkThroughput processes b.N no-op jobs, enqueued beforehand, with
// bare asynq and with the full jobrunner stack (tracking, dedupe, lock,
// breaker and retry classification active on every job), against the same
// kind of dedicated Redis in the same run. It reports Redis commands per
// job from INFO commandstats.
//
//	go test -run '^$' -bench Throughput -benchtime 20000x -count 5 ./runner/ | tee new.txt
//	benchstat -col /stack new.txt
func BenchmarkThroughput(b *testing.B) { benchThroughput(b, "single", []int{10, 50}, stacks, nil) }

// BenchmarkThroughputCluster is BenchmarkThroughput on a Redis Cluster of 3
// primaries (1 replica each). A queue lives in one slot, so asynq's own
// commands all go to one primary, while the layers' marker, lock and fence
// keys hash over all three. Besides the totals (over the primaries) it
// reports each primary's commands and CPU per job: queue-node holds the
// queue's slot, node2 and node3 are the others, in address order.
//
//	go test -run '^$' -bench ThroughputCluster -benchtime 20000x -count 3 ./runner/
func BenchmarkThroughputCluster(b *testing.B) { benchThroughput(b, "cluster", []int{50}, stacks, nil) }

// namedStack is a stack with its name in the benchmark's results.
type namedStack struct {
	name string
	run  stack
}

// benchThroughput runs each of stacks at each concurrency on a new
// topology. numbering, if set, returns the payload number of the i-th job
// on env (the default is i): it decides where the layers' keys land.
func benchThroughput(b *testing.B, topology string, concurrencies []int, stacks []namedStack,
	numbering func(b *testing.B, env *redistest.Env) func(i int) int) {
	var topo redistest.Topology
	for _, t := range redistest.Topologies() {
		if t.Name == topology {
			topo = t
		}
	}
	for _, c := range concurrencies {
		for _, s := range stacks {
			b.Run(fmt.Sprintf("stack=%s/concurrency=%d", s.name, c), func(b *testing.B) {
				env := topo.Start(b)
				rdb := env.Client
				trips := &tripCounter{}
				rdb.AddHook(trips)
				client := asynq.NewClientFromRedisClient(rdb)
				num := func(i int) int { return i }
				if numbering != nil {
					num = numbering(b, env)
				}
				for i := range b.N {
					if _, err := client.Enqueue(asynq.NewTask("bench.noop", []byte(`{"n":`+strconv.Itoa(num(i))+`}`))); err != nil {
						b.Fatal(err)
					}
				}
				var n atomic.Int64
				all := make(chan struct{})
				done := func() {
					if n.Add(1) == int64(b.N) {
						close(all)
					}
				}
				before := env.Stats()
				trips0, cpu0 := trips.Trips.Load(), processCPU()
				b.ResetTimer()
				stop := s.run(b, rdb, c, done)
				<-all
				b.StopTimer()
				cpu1 := processCPU()
				// Let the last completions land before counting.
				time.Sleep(100 * time.Millisecond)
				trips1 := trips.Trips.Load()
				after := env.Stats()
				stop()
				total0, total1 := sumStats(before), sumStats(after)
				if os.Getenv("BENCH_CMDSTATS") != "" && b.N > 1 {
					total1.print(b, total0)
				}
				per := func(v float64) float64 { return v / float64(b.N) }
				b.ReportMetric(per(float64(trips1-trips0)), "roundtrips/op")
				b.ReportMetric(per(float64(cpu1-cpu0)/float64(time.Microsecond)), "go-cpu-µs/op")
				b.ReportMetric(per(float64(total1.total-total0.total)), "rediscmds/op")
				b.ReportMetric(per(float64(total1.byCmd["evalsha"]+total1.byCmd["eval"]-total0.byCmd["evalsha"]-total0.byCmd["eval"])), "scripts/op")
				b.ReportMetric(per((total1.cpu-total0.cpu)*1e6), "redis-cpu-µs/op")
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
				if env.Cluster != nil {
					queue := env.PrimaryFor(asynqdb.PendingKey("default")).Addr
					others := 1
					for _, addr := range slices.Sorted(maps.Keys(after)) {
						name := "queue-node"
						if addr != queue {
							others++
							name = "node" + strconv.Itoa(others)
						}
						b.ReportMetric(per(float64(after[addr].Total-before[addr].Total)), name+"-cmds/op")
						b.ReportMetric(per((after[addr].CPU-before[addr].CPU)*1e6), name+"-cpu-µs/op")
					}
				}
			})
		}
	}
}

// sumStats adds up the statistics of every primary.
func sumStats(byNode map[string]redistest.Stats) cmdStats {
	st := cmdStats{byCmd: map[string]int64{}, usec: map[string]int64{}}
	for _, n := range byNode {
		st.total += n.Total
		st.cpu += n.CPU
		for k, v := range n.Calls {
			st.byCmd[k] += v
		}
		for k, v := range n.Usec {
			st.usec[k] += v
		}
	}
	return st
}

// BenchmarkLatency enqueues one job at a time to an otherwise idle worker
// and measures enqueue to handler start, for bare asynq and the full stack;
// the difference of the p99s is the latency the stack adds.
//
//	go test -run '^$' -bench Latency -benchtime 500x ./runner/
func BenchmarkLatency(b *testing.B) {
	for _, s := range stacks {
		b.Run("stack="+s.name, func(b *testing.B) {
			srv := redistest.Start(b)
			rdb := srv.Client()
			client := asynq.NewClientFromRedisClient(rdb)
			started := make(chan time.Time, 1)
			stop := s.run(b, rdb, 10, func() { started <- time.Now() })
			defer stop()
			lat := make([]float64, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				if _, err := client.Enqueue(asynq.NewTask("bench.noop", []byte(`{"n":`+strconv.Itoa(i)+`}`))); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, float64((<-started).Sub(t0).Microseconds())/1000)
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(lat[len(lat)/2], "p50-ms")
			b.ReportMetric(lat[len(lat)*99/100], "p99-ms")
		})
	}
}

type cmdStats struct {
	total int64
	byCmd map[string]int64
	usec  map[string]int64 // microseconds spent per command
	cpu   float64          // redis-server CPU seconds, user + sys
}

// print logs the calls and microseconds per job of each command run
// between before and st (BENCH_CMDSTATS=1). Script-internal commands are
// counted both on their own and within evalsha's time.
func (st cmdStats) print(b *testing.B, before cmdStats) {
	var sb strings.Builder
	n := float64(b.N)
	for _, name := range slices.Sorted(maps.Keys(st.byCmd)) {
		if calls := st.byCmd[name] - before.byCmd[name]; calls > 0 {
			fmt.Fprintf(&sb, "\n%-16s %6.2f calls/op %7.2f µs/op", name, float64(calls)/n, float64(st.usec[name]-before.usec[name])/n)
		}
	}
	fmt.Fprintf(os.Stderr, "%s:%s\n", b.Name(), sb.String())
}

type tripCounter = redistest.TripCounter

// processCPU returns the CPU time (user + system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
