package resilience_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/jobrunner/jobrunner/resilience"
)

// The breaker benchmarks measure admitting a call and recording its outcome
// in the closed state, beside sony/gobreaker v2 in the same run:
//
//	go test -run '^$' -bench 'Breaker|Registry|Backoff' -benchmem ./resilience/
//
// "success" records only successes; "mixed" alternates failure and success,
// which exercises the failure streak without ever tripping. gobreaker is
// measured both through Execute (its usual API) and through
// TwoStepCircuitBreaker.Allow, whose done callback is the closest match to
// Allow/Done.

var errBench = errors.New("bench failure")

// benchOutcome returns the outcome of call i of a workload.
func benchOutcome(mixed bool, i int) bool { return !mixed || i&1 == 0 }

func BenchmarkBreakerClosed(b *testing.B) {
	for _, workload := range []string{"success", "mixed"} {
		mixed := workload == "mixed"
		b.Run(workload+"/resilience", func(b *testing.B) {
			br, err := resilience.NewBreaker("bench", resilience.BreakerConfig{})
			if err != nil {
				b.Fatal(err)
			}
			runBreakerBench(b, mixed, func(ok bool) {
				t, err := br.Allow()
				if err != nil {
					b.Fatal(err)
				}
				if ok {
					br.Done(t, resilience.Success)
				} else {
					br.Done(t, resilience.Failure)
				}
			})
		})
		b.Run(workload+"/gobreaker-execute", func(b *testing.B) {
			cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{Name: "bench"})
			runBreakerBench(b, mixed, func(ok bool) {
				var err error
				if ok {
					_, err = cb.Execute(func() (struct{}, error) { return struct{}{}, nil })
				} else {
					_, err = cb.Execute(func() (struct{}, error) { return struct{}{}, errBench })
				}
				if err != nil && err != errBench {
					b.Fatal(err)
				}
			})
		})
		b.Run(workload+"/gobreaker-twostep", func(b *testing.B) {
			cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{Name: "bench"})
			runBreakerBench(b, mixed, func(ok bool) {
				done, err := cb.Allow()
				if err != nil {
					b.Fatal(err)
				}
				if ok {
					done(nil)
				} else {
					done(errBench)
				}
			})
		})
	}
}

// BenchmarkBreakerClosedFailureRate compares the failure-rate rule (a rolling
// window of 10 buckets over 60s) with gobreaker's rolling window of the same
// shape.
func BenchmarkBreakerClosedFailureRate(b *testing.B) {
	b.Run("resilience", func(b *testing.B) {
		br, err := resilience.NewBreaker("bench", resilience.BreakerConfig{Trip: resilience.TripFailureRate, MinCalls: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		runBreakerBench(b, true, func(ok bool) {
			t, _ := br.Allow()
			if ok {
				br.Record(t, nil)
			} else {
				br.Record(t, errBench)
			}
		})
	})
	b.Run("gobreaker-execute", func(b *testing.B) {
		cb := gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
			Name:         "bench",
			Interval:     60 * time.Second,
			BucketPeriod: 6 * time.Second,
			ReadyToTrip:  func(gobreaker.Counts) bool { return false },
		})
		runBreakerBench(b, true, func(ok bool) {
			if ok {
				_, _ = cb.Execute(func() (struct{}, error) { return struct{}{}, nil })
			} else {
				_, _ = cb.Execute(func() (struct{}, error) { return struct{}{}, errBench })
			}
		})
	})
}

// runBreakerBench runs call in a single goroutine ("serial") and under
// b.RunParallel ("parallel").
func runBreakerBench(b *testing.B, mixed bool, call func(ok bool)) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			call(benchOutcome(mixed, i))
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				call(benchOutcome(mixed, i))
				i++
			}
		})
	})
}

func BenchmarkRegistryGet(b *testing.B) {
	reg, err := resilience.NewRegistry(resilience.RegistryConfig{})
	if err != nil {
		b.Fatal(err)
	}
	deps := make([]string, 64)
	for i := range deps {
		deps[i] = "dependency-" + strconv.Itoa(i)
		reg.Get(deps[i])
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = reg.Get(deps[i&63])
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				_ = reg.Get(deps[i&63])
				i++
			}
		})
	})
}

func BenchmarkBackoffDelay(b *testing.B) {
	b.Run("resilience", func(b *testing.B) {
		b.ReportAllocs()
		bo := resilience.Backoff{}
		i := 0
		for b.Loop() {
			_ = bo.Delay(i & 15)
			i++
		}
	})
}
