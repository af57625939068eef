package runner_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/internal/testkit/logtest"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

type locked struct {
	Key string `json:"key"`
	MS  int    `json:"ms"`
}

// fenced is a protected resource: it rejects writes carrying a fence not
// newer than the last one it accepted, and detects overlapping holders.
type fenced struct {
	mu       sync.Mutex
	last     map[string]int64
	inside   map[string]int
	writes   int
	stale    int
	overlaps int
}

func newFenced() *fenced { return &fenced{last: map[string]int64{}, inside: map[string]int{}} }

func (f *fenced) enter(key string, fence int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inside[key]++
	if f.inside[key] > 1 {
		f.overlaps++
	}
	if fence <= f.last[key] {
		f.stale++
		return
	}
	f.last[key] = fence
	f.writes++
}

func (f *fenced) leave(key string) {
	f.mu.Lock()
	f.inside[key]--
	f.mu.Unlock()
}

func lockedDefinition(f *fenced, unlocked *atomic.Int32) *job.Definition[locked] {
	return &job.Definition[locked]{
		Type: "locked.write",
		Lock: func(p locked) job.Lock {
			return job.Lock{Key: p.Key, TTL: 2 * time.Second, Wait: 200 * time.Millisecond}
		},
		Handle: func(ctx context.Context, p locked) error {
			fence, ok := job.Fence(ctx)
			if !ok {
				unlocked.Add(1)
				return errors.New("ran without a fence")
			}
			f.enter(p.Key, fence)
			defer f.leave(p.Key)
			time.Sleep(time.Duration(p.MS) * time.Millisecond)
			return nil
		},
	}
}

func TestLockMutualExclusionAcrossWorkers(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	f := newFenced()
	var unlocked, done atomic.Int32
	for i := range 2 {
		log := zerolog.Nop()
		r, err := runner.New(runner.Config{Redis: rdb, Concurrency: 6, Logger: &log,
			PollInterval: runner.PollIntervalMin, DelayedCheckInterval: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		def := lockedDefinition(f, &unlocked)
		h := def.Handle
		def.Handle = func(ctx context.Context, p locked) error {
			err := h(ctx, p)
			if err == nil {
				done.Add(1)
			}
			return err
		}
		if err := r.Register(def); err != nil {
			t.Fatal(err)
		}
		start(t, r)
		_ = i
	}
	client := asynq.NewClientFromRedisClient(rdb)
	const jobs = 60
	for i := range jobs {
		body := fmt.Sprintf(`{"key":"account-%d","ms":5}`, i%3)
		if _, err := client.Enqueue(asynq.NewTask("locked.write", []byte(body)), asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 60*time.Second, "all jobs", func() bool { return done.Load() == jobs })
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.overlaps != 0 || f.stale != 0 || unlocked.Load() != 0 || f.writes != jobs {
		t.Fatalf("overlaps %d, stale fences %d, unlocked runs %d, accepted writes %d of %d",
			f.overlaps, f.stale, unlocked.Load(), f.writes, jobs)
	}
}

func TestLockLostCancelsJobWithErrLockLost(t *testing.T) {
	r, b := harness(t, runner.Config{})
	var runs atomic.Int32
	causes := make(chan error, 1)
	err := r.Register(&job.Definition[locked]{
		Type: "holds",
		Lock: func(p locked) job.Lock { return job.Lock{Key: p.Key, TTL: 600 * time.Millisecond} },
		Handle: func(ctx context.Context, p locked) error {
			if runs.Add(1) > 1 {
				return nil // the retry succeeds at once
			}
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return ctx.Err()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	if _, err := b.client.Enqueue(asynq.NewTask("holds", []byte(`{"key":"inv-9"}`)), asynq.MaxRetry(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "running", func() bool { return runs.Load() == 1 })
	// Someone deletes the lock under the running job.
	if n, err := b.rdb.Del(context.Background(), "jobrunner:{inv-9}:lock").Result(); err != nil || n != 1 {
		t.Fatalf("DEL lock: %d %v", n, err)
	}
	select {
	case cause := <-causes:
		if !errors.Is(cause, lockcore.ErrLockLost) {
			t.Fatalf("cause = %v, want ErrLockLost", cause)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("job not cancelled after its lock was deleted")
	}
	waitFor(t, 10*time.Second, "retried and done", func() bool { return len(b.logs.Events("job.done")) == 1 })
	if d := b.logs.Events("job.deferred"); len(d) != 1 || d[0]["reason"] != "lock_lost" {
		t.Fatalf("deferred = %v", d)
	}
	if q, _ := b.inspector.GetQueueInfo("default"); q.Archived != 0 {
		t.Fatal("a job whose lock was lost was archived")
	}
}

func TestLockBusyDefersAfterWait(t *testing.T) {
	r, b := harness(t, runner.Config{})
	var runs atomic.Int32
	err := r.Register(&job.Definition[locked]{
		Type: "busy",
		Lock: func(p locked) job.Lock {
			return job.Lock{Key: p.Key, TTL: 3 * time.Second, Wait: 100 * time.Millisecond}
		},
		Handle: func(context.Context, locked) error { runs.Add(1); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	// Another process holds the lock.
	store := lockcore.NewRedisStore(b.rdb, lockcore.RedisConfig{})
	lease, err := store.Acquire(context.Background(), "shared", time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	if _, err := b.client.Enqueue(asynq.NewTask("busy", []byte(`{"key":"shared"}`)), asynq.MaxRetry(0), asynq.TaskID("b")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "deferred", func() bool { return len(b.logs.Events("job.deferred")) == 1 })
	l := b.logs.Events("job.deferred")[0]
	if l["reason"] != "lock_busy" || l["lock_key"] != "shared" || runs.Load() != 0 {
		t.Fatalf("deferred = %v, runs %d", l, runs.Load())
	}
	if ms := l["duration_ms"].(float64); ms > 1000 {
		t.Fatalf("slot blocked %vms for a 100ms wait", ms)
	}
	if _, err := lease.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	var retried int
	waitFor(t, 10*time.Second, "done", func() bool { return runs.Load() == 1 })
	for _, d := range b.logs.Events("job.done") {
		retried += int(d["attempt"].(float64)) - 1
	}
	if retried != 0 {
		t.Fatal("the deferral counted an attempt")
	}
}

func TestRedisKilledMidJobDefersAndCompletes(t *testing.T) {
	srv := redistest.StartWith(t, redistest.Options{AOF: true})
	if srv.Embedded {
		t.Skip("lock expiry needs real TTLs; CI runs this on redis-server")
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	logs := &logtest.Buffer{}
	log := zerolog.New(logs)
	r, err := runner.New(runner.Config{Redis: rdb, Logger: &log, PollInterval: 10 * time.Millisecond,
		DelayedCheckInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f := newFenced()
	var runs, unlocked atomic.Int32
	def := lockedDefinition(f, &unlocked)
	def.Lock = func(p locked) job.Lock { return job.Lock{Key: p.Key, TTL: time.Second} }
	h := def.Handle
	def.Handle = func(ctx context.Context, p locked) error {
		if runs.Add(1) == 1 {
			<-ctx.Done() // the first run outlives Redis: it must lose its lock
			return context.Cause(ctx)
		}
		return h(ctx, p)
	}
	if err := r.Register(def); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	client := asynq.NewClientFromRedisClient(rdb)
	if _, err := client.Enqueue(asynq.NewTask("locked.write", []byte(`{"key":"acct"}`)), asynq.MaxRetry(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "running", func() bool { return runs.Load() == 1 })
	srv.Kill()
	waitFor(t, 5*time.Second, "lock lost", func() bool {
		for _, l := range logs.Events("job.deferred") {
			if l["reason"] == "lock_lost" {
				return true
			}
		}
		return false
	})
	time.Sleep(500 * time.Millisecond)
	srv.Restart()
	waitFor(t, 30*time.Second, "done after Redis returned", func() bool { return len(logs.Events("job.done")) == 1 })
	if unlocked.Load() != 0 || f.overlaps != 0 || f.stale != 0 {
		t.Fatalf("unlocked %d overlaps %d stale %d", unlocked.Load(), f.overlaps, f.stale)
	}
}
