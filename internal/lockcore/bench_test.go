package lockcore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

// serverStats is what INFO tells of the work the server did.
type serverStats struct {
	calls int64   // commands, script-internal ones included
	cpu   float64 // redis-server CPU seconds, user + sys
}

// benchStore returns a RedisStore on a dedicated server, with its
// round-trip counter and a probe of the server's work.
func benchStore(b *testing.B) (*lockcore.RedisStore, *tripCounter, func() serverStats) {
	srv := startRedis(b)
	if srv.Embedded {
		b.Log("miniredis: INFO commandstats is not available, rediscmds/op and redis-cpu-µs/op will read 0")
	}
	c := srv.Client()
	trips := &tripCounter{}
	c.AddHook(trips)
	return lockcore.NewRedisStore(c, lockcore.RedisConfig{}), trips, func() serverStats {
		if srv.Embedded {
			return serverStats{}
		}
		return serverStats{calls: commandCalls(b, c), cpu: serverCPU(b, c)}
	}
}

// measure runs op b.N times and reports Redis commands (from INFO
// commandstats, script-internal commands included, the INFO calls
// themselves excluded), Redis CPU time and client round trips per op.
func measure(b *testing.B, trips *tripCounter, stats func() serverStats, op func(i int)) {
	op(-1) // load the scripts
	s0 := stats()
	t0 := trips.Trips.Load()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		op(i)
	}
	b.StopTimer()
	t1 := trips.Trips.Load()
	report(b, s0, stats(), t1-t0)
}

func report(b *testing.B, s0, s1 serverStats, trips int64) {
	n := float64(b.N)
	b.ReportMetric(float64(s1.calls-s0.calls-2)/n, "rediscmds/op") // 2 INFO probes counted
	b.ReportMetric((s1.cpu-s0.cpu)*1e6/n, "redis-cpu-µs/op")
	b.ReportMetric(float64(trips)/n, "roundtrips/op")
}

func BenchmarkAcquireRelease(b *testing.B) {
	s, trips, calls := benchStore(b)
	ctx := context.Background()
	measure(b, trips, calls, func(int) {
		l, err := s.Acquire(ctx, "invoice:123", 30*time.Second, -1)
		if err != nil {
			b.Fatal(err)
		}
		if r, err := l.Release(ctx); err != nil || r != lockcore.Released {
			b.Fatal(r, err)
		}
	})
}

// BenchmarkAdmitComplete is one deduplicated, locked job: the admission
// (marker + lock + fence) and the completion (record + marker + lock).
func BenchmarkAdmitComplete(b *testing.B) {
	s, trips, calls := benchStore(b)
	ctx := context.Background()
	measure(b, trips, calls, func(i int) {
		key := fmt.Sprint("invoice:", i)
		a, err := s.Admit(ctx, lockcore.AdmitRequest{DedupeKey: key, TaskID: "task", LockKey: key})
		if err != nil || a.Verdict != lockcore.Admitted {
			b.Fatal(a.Verdict, err)
		}
		c, err := s.Complete(ctx, lockcore.CompleteRequest{Marker: a.Marker, Lock: a.Lock, Result: []byte("ok"), Window: time.Minute})
		if err != nil || c.Lock != lockcore.Released {
			b.Fatal(c, err)
		}
	})
}

// BenchmarkAdmitCompleteParallel is BenchmarkAdmitComplete from 50
// goroutines at once, as in a busy worker: the store's group commit sends
// the scripts of concurrent calls in shared pipelines.
func BenchmarkAdmitCompleteParallel(b *testing.B) {
	s, trips, stats := benchStore(b)
	ctx := context.Background()
	var seq atomic.Int64
	op := func() {
		key := fmt.Sprint("invoice:", seq.Add(1))
		a, err := s.Admit(ctx, lockcore.AdmitRequest{DedupeKey: key, TaskID: "task", LockKey: key})
		if err != nil || a.Verdict != lockcore.Admitted {
			b.Error(a.Verdict, err)
			return
		}
		c, err := s.Complete(ctx, lockcore.CompleteRequest{Marker: a.Marker, Lock: a.Lock, Result: []byte("ok"), Window: time.Minute})
		if err != nil || c.Lock != lockcore.Released {
			b.Error(c, err)
		}
	}
	op() // load the scripts
	s0 := stats()
	t0 := trips.Trips.Load()
	b.SetParallelism(25) // 50 goroutines on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			op()
		}
	})
	b.StopTimer()
	report(b, s0, stats(), trips.Trips.Load()-t0)
}

// BenchmarkAdmitDone is a duplicate of a completed job: one round trip to
// learn it is done.
func BenchmarkAdmitDone(b *testing.B) {
	s, trips, calls := benchStore(b)
	ctx := context.Background()
	a, _ := s.Admit(ctx, lockcore.AdmitRequest{DedupeKey: "d", TaskID: "t"})
	_, _ = s.Complete(ctx, lockcore.CompleteRequest{Marker: a.Marker, Result: []byte("ok")})
	measure(b, trips, calls, func(int) {
		a, err := s.Admit(ctx, lockcore.AdmitRequest{DedupeKey: "d", TaskID: "t2", LockKey: "d"})
		if err != nil || a.Verdict != lockcore.Done {
			b.Fatal(a.Verdict, err)
		}
	})
}

// BenchmarkRenew100 renews 100 held leases in one pipeline.
func BenchmarkRenew100(b *testing.B) {
	s, trips, calls := benchStore(b)
	ctx := context.Background()
	var leases []*lockcore.Lease
	for i := range 100 {
		l, err := s.Acquire(ctx, fmt.Sprint("k", i), time.Minute, -1)
		if err != nil {
			b.Fatal(err)
		}
		leases = append(leases, l)
	}
	measure(b, trips, calls, func(int) {
		if err := s.Renew(ctx, leases...); err != nil {
			b.Fatal(err)
		}
	})
	for _, l := range leases {
		_, _ = l.Release(ctx)
	}
}
