package runner_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

// BenchmarkIdleEnqueueToStart measures how long a job enqueued to an idle
// worker waits before its handler starts, for the default poll interval
// and asynq's own default (1s). It reports the median and p90 in ms and
// the idle Redis cost in script calls per second (one queue, one worker).
//
//	go test -run '^$' -bench IdleEnqueueToStart -benchtime 40x ./runner/
func BenchmarkIdleEnqueueToStart(b *testing.B) {
	for _, poll := range []time.Duration{runner.PollIntervalDefault, time.Second} {
		b.Run("poll="+poll.String(), func(b *testing.B) {
			r, tb := setupB(b, runner.Config{PollInterval: poll})
			started := make(chan time.Time, 1)
			err := r.Register(&job.Definition[greet]{Type: "ping", Handle: func(context.Context, greet) error {
				started <- time.Now()
				return nil
			}})
			if err != nil {
				b.Fatal(err)
			}
			if err := r.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = r.Shutdown(context.Background()) }()

			// Idle cost first: script calls per second with nothing to do.
			before := evalCalls(b, tb.rdb)
			time.Sleep(2 * time.Second)
			idleRate := float64(evalCalls(b, tb.rdb)-before) / 2

			lat := make([]float64, 0, b.N)
			b.ResetTimer()
			for range b.N {
				// Enqueue at a random phase of the poll cycle.
				time.Sleep(time.Duration(rand.Int64N(int64(poll))))
				t0 := time.Now()
				if _, err := tb.client.Enqueue(asynq.NewTask("ping", []byte(`{"name":"x"}`))); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, float64((<-started).Sub(t0).Microseconds())/1000)
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(lat[len(lat)/2], "p50-ms")
			b.ReportMetric(lat[len(lat)*9/10], "p90-ms")
			b.ReportMetric(idleRate, "idle-evals/s")
		})
	}
}

// evalCalls returns the number of EVAL and EVALSHA calls the server has
// run.
func evalCalls(tb testing.TB, rdb *redis.Client) int64 { return redistest.ReadStats(tb, rdb).Scripts() }

// setupB is setup for benchmarks.
func setupB(b *testing.B, cfg runner.Config) (*runner.Runner, *testBundle) {
	b.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = runner.PollIntervalDefault
	}
	if cfg.DelayedCheckInterval == 0 {
		cfg.DelayedCheckInterval = runner.DelayedCheckIntervalDefault
	}
	return setupTB(b, cfg)
}
