package resilience_test

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/resilience"
)

// parallel runs fn(i) in n goroutines released at the same time and waits for
// them.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func TestBreakerConcurrentStreakIsExact(t *testing.T) {
	t.Parallel()
	const threshold, goroutines = 1000, 16
	bundle := setupBreaker(t, resilience.BreakerConfig{FailureThreshold: threshold})
	b := bundle.b

	tickets := make([]resilience.Ticket, 2*threshold)
	for i := range tickets {
		tickets[i] = mustAllow(t, b)
	}

	// threshold-1 concurrent failures: closed, with an exact streak.
	parallel(goroutines, func(g int) {
		for i := g; i < threshold-1; i += goroutines {
			b.Done(tickets[i], resilience.Failure)
		}
	})
	if s := b.Snapshot(); s.State != resilience.StateClosed || s.ConsecutiveFailures != threshold-1 {
		t.Fatalf("after %d failures: %+v, want closed with that streak", threshold-1, s)
	}

	// The rest race to trip it: exactly one transition.
	parallel(goroutines, func(g int) {
		for i := threshold - 1 + g; i < len(tickets); i += goroutines {
			b.Done(tickets[i], resilience.Failure)
		}
	})
	wantState(t, b, resilience.StateOpen)
	if got := bundle.log.get(); len(got) != 1 || got[0] != "dep:closed>open" {
		t.Fatalf("transitions = %v, want exactly one closed>open", got)
	}
}

func TestBreakerConcurrentHalfOpenAdmissionIsExact(t *testing.T) {
	t.Parallel()
	const maxCalls, goroutines = 5, 64
	bundle := halfOpen(t, resilience.BreakerConfig{HalfOpenMaxCalls: maxCalls, SuccessThreshold: maxCalls})
	b := bundle.b

	var admitted, refused atomic.Int64
	tickets := make([]resilience.Ticket, goroutines)
	ok := make([]bool, goroutines)
	parallel(goroutines, func(i int) {
		tk, err := b.Allow()
		if err != nil {
			refused.Add(1)
			return
		}
		admitted.Add(1)
		tickets[i], ok[i] = tk, true
	})
	if admitted.Load() != maxCalls || refused.Load() != goroutines-maxCalls {
		t.Fatalf("admitted %d, refused %d; want %d and %d", admitted.Load(), refused.Load(), maxCalls, goroutines-maxCalls)
	}

	parallel(goroutines, func(i int) {
		if ok[i] {
			b.Done(tickets[i], resilience.Success)
		}
	})
	wantState(t, b, resilience.StateClosed)
	if got := bundle.log.get(); len(got) != 3 || got[2] != "dep:half-open>closed" {
		t.Fatalf("transitions = %v, want closed>open, open>half-open, half-open>closed", got)
	}
}

func TestBreakerConcurrentWindowCountsAreExact(t *testing.T) {
	t.Parallel()
	const goroutines, perGoroutine = 16, 500
	cfg := rateConfig()
	cfg.MinCalls = 1 << 30 // Never trips: we only count.
	b := setupBreaker(t, cfg).b

	parallel(goroutines, func(int) {
		for i := range perGoroutine {
			o := resilience.Success
			switch i % 3 {
			case 0:
				o = resilience.Failure
			case 1:
				o = resilience.Neutral
			}
			tk, err := b.Allow()
			if err != nil {
				panic(err)
			}
			b.Done(tk, o)
		}
	})
	perFailures, perNeutral := (perGoroutine+2)/3, (perGoroutine+1)/3
	wantCalls, wantFailures := goroutines*(perGoroutine-perNeutral), goroutines*perFailures
	if s := b.Snapshot(); s.WindowCalls != wantCalls || s.WindowFailures != wantFailures {
		t.Fatalf("window = %d/%d, want %d/%d", s.WindowFailures, s.WindowCalls, wantFailures, wantCalls)
	}
}

// TestBreakerConcurrentChaos hammers a breaker from many goroutines with
// random outcomes, clock jumps and resets, and checks that the transitions
// delivered to OnStateChange form one consistent chain ending in the final
// state: callbacks run outside the lock yet in order.
func TestBreakerConcurrentChaos(t *testing.T) {
	t.Parallel()
	for _, trip := range []resilience.TripRule{resilience.TripConsecutive, resilience.TripFailureRate} {
		t.Run(trip.String(), func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			var mu sync.Mutex
			var chain []resilience.State
			b, err := resilience.NewBreaker("dep", resilience.BreakerConfig{
				Trip:             trip,
				FailureThreshold: 3,
				MinCalls:         4,
				Window:           10 * time.Millisecond,
				HalfOpenMaxCalls: 2,
				SuccessThreshold: 2,
				OpenTimeout:      time.Millisecond,
				HalfOpenMaxWait:  time.Millisecond,
				Now:              clock.Now,
				OnStateChange: func(_ string, from, to resilience.State) {
					mu.Lock()
					defer mu.Unlock()
					if len(chain) > 0 && chain[len(chain)-1] != from {
						t.Errorf("transition %s>%s after a transition to %s", from, to, chain[len(chain)-1])
					}
					if len(chain) == 0 && from != resilience.StateClosed {
						t.Errorf("first transition from %s, want closed", from)
					}
					chain = append(chain, to)
				},
			})
			if err != nil {
				t.Fatal(err)
			}

			var admitted, refused atomic.Int64
			parallel(8, func(g int) {
				r := rand.New(rand.NewPCG(uint64(g), 42))
				for range 3000 {
					switch n := r.IntN(100); {
					case n < 3:
						clock.Advance(time.Millisecond)
					case n < 4:
						b.Reset()
					case n < 6:
						_ = b.Snapshot()
					default:
						tk, err := b.Allow()
						if err != nil {
							refused.Add(1)
							continue
						}
						admitted.Add(1)
						b.Done(tk, resilience.Result(r.IntN(3)))
					}
				}
			})

			final := b.State()
			mu.Lock()
			defer mu.Unlock()
			if len(chain) < 10 {
				t.Fatalf("only %d transitions: the test exercises too little", len(chain))
			}
			if chain[len(chain)-1] != final {
				t.Fatalf("last delivered transition went to %s, final state is %s", chain[len(chain)-1], final)
			}
			if admitted.Load() == 0 || refused.Load() == 0 {
				t.Fatalf("admitted %d, refused %d: want both", admitted.Load(), refused.Load())
			}
		})
	}
}
