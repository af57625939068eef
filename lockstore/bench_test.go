package lockstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/lockstore"
)

// benchStore returns a RedisStore on a dedicated server, with its
// round-trip counter.
func benchStore(b *testing.B) (*lockstore.RedisStore, *tripCounter, func() int64) {
	srv := startRedis(b)
	if srv.Embedded {
		b.Log("miniredis: INFO commandstats is not available, rediscmds/op will read 0")
	}
	c := srv.Client()
	trips := &tripCounter{}
	c.AddHook(trips)
	return lockstore.NewRedisStore(c, lockstore.RedisConfig{}), trips, func() int64 {
		if srv.Embedded {
			return 0
		}
		return commandCalls(b, c)
	}
}

// measure runs op b.N times and reports Redis commands (from INFO
// commandstats, script-internal commands included, the INFO call itself
// excluded) and client round trips per op.
func measure(b *testing.B, trips *tripCounter, calls func() int64, op func(i int)) {
	op(-1) // load the scripts
	c0 := calls()
	t0 := trips.trips.Load()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		op(i)
	}
	b.StopTimer()
	t1 := trips.trips.Load()
	c1 := calls() - 1 // the first INFO counted itself
	n := float64(b.N)
	b.ReportMetric(float64(c1-c0)/n, "rediscmds/op")
	b.ReportMetric(float64(t1-t0)/n, "roundtrips/op")
}

func BenchmarkAcquireRelease(b *testing.B) {
	s, trips, calls := benchStore(b)
	ctx := context.Background()
	measure(b, trips, calls, func(int) {
		l, err := s.Acquire(ctx, "invoice:123", 30*time.Second, -1)
		if err != nil {
			b.Fatal(err)
		}
		if r, err := l.Release(ctx); err != nil || r != lockstore.Released {
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
		a, err := s.Admit(ctx, lockstore.AdmitRequest{DedupeKey: key, TaskID: "task", LockKey: key})
		if err != nil || a.Outcome != lockstore.Admitted {
			b.Fatal(a.Outcome, err)
		}
		c, err := s.Complete(ctx, lockstore.CompleteRequest{Marker: a.Marker, Lock: a.Lock, Result: []byte("ok"), Window: time.Minute})
		if err != nil || c.Lock != lockstore.Released {
			b.Fatal(c, err)
		}
	})
}

// BenchmarkAdmitDone is a duplicate of a completed job: one round trip to
// learn it is done.
func BenchmarkAdmitDone(b *testing.B) {
	s, trips, calls := benchStore(b)
	ctx := context.Background()
	a, _ := s.Admit(ctx, lockstore.AdmitRequest{DedupeKey: "d", TaskID: "t"})
	_, _ = s.Complete(ctx, lockstore.CompleteRequest{Marker: a.Marker, Result: []byte("ok")})
	measure(b, trips, calls, func(int) {
		a, err := s.Admit(ctx, lockstore.AdmitRequest{DedupeKey: "d", TaskID: "t2", LockKey: "d"})
		if err != nil || a.Outcome != lockstore.Done {
			b.Fatal(a.Outcome, err)
		}
	})
}

// BenchmarkRenew100 renews 100 held leases in one pipeline.
func BenchmarkRenew100(b *testing.B) {
	s, trips, calls := benchStore(b)
	ctx := context.Background()
	var leases []*lockstore.Lease
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
