package runner_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

// limitedJob is a job on the dependency "dep" whose handler records its
// starts and how many run at once.
type limitedJob struct {
	mu      sync.Mutex
	starts  []time.Time
	running atomic.Int32
	peak    atomic.Int32
	hold    time.Duration
	fail    func(n int) error
}

func (l *limitedJob) def(typ string) *job.Definition[greet] {
	return &job.Definition[greet]{
		Type:         typ,
		Dependencies: func(greet) []string { return []string{"dep"} },
		Handle: func(ctx context.Context, _ greet) error {
			l.mu.Lock()
			l.starts = append(l.starts, time.Now())
			n := len(l.starts)
			l.mu.Unlock()
			cur := l.running.Add(1)
			defer l.running.Add(-1)
			for p := l.peak.Load(); cur > p && !l.peak.CompareAndSwap(p, cur); p = l.peak.Load() {
			}
			time.Sleep(l.hold)
			if l.fail != nil {
				return l.fail(n)
			}
			return nil
		},
	}
}

// rateSeen is the window in which the tests count the starts of a rate of
// N per second. A start is seen when the handler runs, some time after
// Redis admitted it (the admission's reply, the pool's hand-off, the race
// detector on a busy machine): two starts admitted a second apart can be
// seen closer.
const rateSeen = 800 * time.Millisecond

// maxInWindow returns the most starts within any window of length w.
func (l *limitedJob) maxInWindow(w time.Duration) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	most := 0
	for i := range l.starts {
		n := 0
		for j := i; j < len(l.starts) && l.starts[j].Sub(l.starts[i]) < w; j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}

func enqueueN(t *testing.T, b *testBundle, typ string, n int) {
	t.Helper()
	for range n {
		if _, err := b.client.Enqueue(asynq.NewTask(typ, []byte(`{"name":"a"}`)), asynq.MaxRetry(3)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLimitRate(t *testing.T) {
	r, b := harness(t, runner.Config{Concurrency: 8, Limits: map[string]runner.Limit{
		"dep": {Rate: runner.Rate{N: 4, Per: time.Second}},
	}})
	lj := &limitedJob{}
	if err := r.Register(lj.def("limited.rate")); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	enqueueN(t, b, "limited.rate", 16)
	waitFor(t, 30*time.Second, "every job done", func() bool { return len(b.logs.Events("job.done")) == 16 })
	if got := lj.maxInWindow(rateSeen); got > 4 {
		t.Fatalf("%d starts within %v, limit 4/s", got, rateSeen)
	}
	if len(b.logs.Events("job.failed")) != 0 {
		t.Fatal("a limited job failed an attempt")
	}
	deferred := b.logs.Events("job.deferred")
	if len(deferred) == 0 || deferred[0]["reason"] != "rate_limited" || deferred[0]["dependency"] != "dep" {
		t.Fatalf("deferrals = %v", deferred)
	}
	// The queue of refused starts keeps retries few: not one per job per poll.
	if len(deferred) > 16*4 {
		t.Fatalf("%d deferrals for 16 jobs", len(deferred))
	}
}

func TestLimitConcurrency(t *testing.T) {
	r, b := harness(t, runner.Config{Concurrency: 8, Limits: map[string]runner.Limit{"dep": {Concurrency: 2}}})
	lj := &limitedJob{hold: 150 * time.Millisecond}
	if err := r.Register(lj.def("limited.conc")); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	enqueueN(t, b, "limited.conc", 10)
	waitFor(t, 30*time.Second, "every job done", func() bool { return len(b.logs.Events("job.done")) == 10 })
	if p := lj.peak.Load(); p > 2 || p < 1 {
		t.Fatalf("peak concurrency %d, cap 2", p)
	}
	if d := b.logs.Events("job.deferred"); len(d) == 0 || d[0]["reason"] != "concurrency_limited" {
		t.Fatalf("deferrals = %v", d)
	}
	if len(b.logs.Events("job.failed")) != 0 {
		t.Fatal("a limited job failed an attempt")
	}
	// Every slot was given back.
	keys, _ := b.rdb.ZCard(context.Background(), "jobrunner:{limit:dep}:slots").Result()
	if keys != 0 {
		t.Fatalf("%d slots still held", keys)
	}
}

// TestLimitRetryAfterPausesTheDependency: a callee's Retry-After (a 429)
// defers the job instead of failing it, and holds every job on the
// dependency back for that long.
func TestLimitRetryAfterPausesTheDependency(t *testing.T) {
	r, b := harness(t, runner.Config{Concurrency: 4, Limits: map[string]runner.Limit{
		"dep": {Rate: runner.Rate{N: 100, Per: time.Second}},
	}})
	lj := &limitedJob{fail: func(n int) error {
		if n == 1 {
			return job.RetryAfter(errors.New("429 too many requests"), 1500*time.Millisecond)
		}
		return nil
	}}
	if err := r.Register(lj.def("limited.429")); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	enqueueN(t, b, "limited.429", 1)
	waitFor(t, 10*time.Second, "the 429", func() bool { return len(b.logs.Events("job.deferred")) >= 1 })
	paused := time.Now()
	enqueueN(t, b, "limited.429", 3)
	waitFor(t, 30*time.Second, "every job done", func() bool { return len(b.logs.Events("job.done")) == 4 })
	if len(b.logs.Events("job.failed")) != 0 {
		t.Fatal("the 429 failed an attempt")
	}
	lj.mu.Lock()
	defer lj.mu.Unlock()
	for _, s := range lj.starts[1:] {
		if s.Before(paused.Add(time.Second)) {
			t.Fatalf("a job started %v after the 429's 1.5s Retry-After", s.Sub(paused))
		}
	}
}
