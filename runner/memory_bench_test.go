package runner_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

// memoryLayers are the rows of BenchmarkMemory: what a completed job
// leaves behind in Redis depends on its dedupe key and its lock only.
var memoryLayers = []layers{
	{name: "none"},
	{name: "dedupe", dedupe: true},
	{name: "lock", lock: true},
	{name: "all", dedupe: true, lock: true, breaker: true},
}

// memoryResult is the WriteResult of the "result=100B" rows.
var memoryResult = bytes.Repeat([]byte("r"), 100)

// BenchmarkMemory is the memory table of BENCHMARKS.md and
// docs/capacity.md: the Redis memory (used_memory, summed over the
// primaries) that b.N completed jobs leave behind, per job, for each set
// of layers, with and without a 100-byte job.WriteResult, on one server
// and on a 3-primary cluster. Every job has its own dedupe key and its
// own lock key (the worst case: a record and a fence per job). Memory is
// read before the jobs are enqueued and after the queue drained, once a
// warm-up round has loaded the scripts and opened the connections, so the
// difference is what the jobs keep: completed records for the dedupe
// window, lock keys (with their fences) for a day, asynq's counters.
//
//	go test -run '^$' -bench Memory -benchtime 100000x -timeout 60m ./runner/
func BenchmarkMemory(b *testing.B) {
	for _, topo := range redistest.Topologies() {
		if topo.Name == "sentinel" {
			continue // one primary: the same as single
		}
		for _, l := range memoryLayers {
			for _, result := range []bool{false, true} {
				name := fmt.Sprintf("topology=%s/layers=%s/result=%s", topo.Name, l.name, map[bool]string{false: "none", true: "100B"}[result])
				b.Run(name, func(b *testing.B) {
					env := topo.Start(b)
					start := func(first, n int, done func()) func() {
						return memoryStack(b, env.Client, l, result, done)
					}
					memoryPass(b, env, 0, 1000, start) // warm-up: scripts, connections, asynq's keys
					used0 := usedMemory(b, env)
					keys0 := dbSize(b, env)
					t0 := time.Now()
					memoryPass(b, env, 1000, b.N, start)
					elapsed := time.Since(t0)
					used1 := usedMemory(b, env)
					keys1 := dbSize(b, env)
					n := float64(b.N)
					b.ReportMetric(float64(used1-used0)/n, "B/job")
					b.ReportMetric(float64(keys1-keys0)/n, "keys/job")
					b.ReportMetric(n/elapsed.Seconds(), "jobs/s")
				})
			}
		}
	}
}

// memoryPass enqueues n jobs numbered from first and runs them to the
// end with what start starts.
func memoryPass(b *testing.B, env *redistest.Env, first, n int, start func(first, n int, done func()) func()) {
	enqueueNoops(b, env.Client, first, n)
	var count atomic.Int64
	all := make(chan struct{})
	done := func() {
		if count.Add(1) == int64(n) {
			close(all)
		}
	}
	stop := start(first, n, done)
	<-all
	// Let the last completions land.
	time.Sleep(200 * time.Millisecond)
	stop()
}

// enqueueNoops enqueues bench.noop jobs first..first+n-1 from a few
// goroutines.
func enqueueNoops(b *testing.B, rdb redis.UniversalClient, first, n int) {
	client := asynq.NewClientFromRedisClient(rdb)
	const senders = 8
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Go(func() {
			for i := first + s; i < first+n; i += senders {
				if _, err := client.Enqueue(asynq.NewTask("bench.noop", []byte(`{"n":`+strconv.Itoa(i)+`}`))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// memoryStack runs bench.noop with the layers of l through the runner;
// with result, each job writes a 100-byte result.
func memoryStack(b *testing.B, rdb redis.UniversalClient, l layers, result bool, done func()) func() {
	r, err := runner.New(runner.Config{Redis: rdb, Concurrency: 50})
	if err != nil {
		b.Fatal(err)
	}
	d := costDefinition(l, done)
	if result {
		handle := d.Handle
		d.Handle = func(ctx context.Context, p noop) error {
			if err := job.WriteResult(ctx, memoryResult); err != nil {
				return err
			}
			return handle(ctx, p)
		}
	}
	if err := r.Register(d); err != nil {
		b.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return func() { _ = r.Shutdown(context.Background()) }
}

// primaries returns a client of each primary of env.
func primaries(env *redistest.Env) []redis.UniversalClient {
	if env.Cluster == nil {
		return []redis.UniversalClient{env.Client}
	}
	var cs []redis.UniversalClient
	for _, p := range env.Cluster.Primaries() {
		cs = append(cs, p.Client())
	}
	return cs
}

// usedMemory is INFO memory's used_memory summed over env's primaries.
func usedMemory(b *testing.B, env *redistest.Env) int64 {
	var sum int64
	for _, c := range primaries(env) {
		info, err := c.Info(context.Background(), "memory").Result()
		if err != nil {
			b.Fatal(err)
		}
		sum += infoField(b, info, "used_memory")
	}
	return sum
}

// dbSize is the number of keys of env's primaries.
func dbSize(b *testing.B, env *redistest.Env) int64 {
	var sum int64
	for _, c := range primaries(env) {
		n, err := c.DBSize(context.Background()).Result()
		if err != nil {
			b.Fatal(err)
		}
		sum += n
	}
	return sum
}

func infoField(b *testing.B, info, field string) int64 {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return n
		}
	}
	b.Fatalf("INFO has no %s", field)
	return 0
}
