package runner_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

type keyed struct {
	Key   string `json:"key"`
	MS    int    `json:"ms"`
	Fails int    `json:"fails"`
}

// counter counts runs per key and can fail the first n of them.
type counter struct {
	mu   sync.Mutex
	runs map[string]int
}

func (c *counter) handle(ctx context.Context, p keyed) error {
	c.mu.Lock()
	c.runs[p.Key]++
	n := c.runs[p.Key]
	c.mu.Unlock()
	if n <= p.Fails {
		return errors.New("transient")
	}
	select {
	case <-time.After(time.Duration(p.MS) * time.Millisecond):
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	return job.WriteResult(ctx, []byte("result:"+p.Key))
}

func (c *counter) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[k]
}

func dedupeDefinition(c *counter) *job.Definition[keyed] {
	return &job.Definition[keyed]{
		Type:      "dedupe.me",
		Handle:    c.handle,
		DedupeKey: func(p keyed) string { return p.Key },
		Backoff:   func(int, error) time.Duration { return 10 * time.Millisecond },
	}
}

func TestDedupeSameKeyRunsOnce(t *testing.T) {
	r, b := harness(t, runner.Config{DuplicateDelay: 100 * time.Millisecond})
	c := &counter{runs: map[string]int{}}
	if err := r.Register(dedupeDefinition(c)); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	for _, id := range []string{"first", "second"} {
		if _, err := b.client.Enqueue(asynq.NewTask("dedupe.me", []byte(`{"key":"order-1","ms":400}`)),
			asynq.TaskID(id), asynq.Retention(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	// A third copy after both finished is skipped too.
	waitFor(t, 10*time.Second, "both settled", func() bool {
		q, _ := b.inspector.GetQueueInfo("default")
		return q != nil && q.Completed == 2
	})
	if _, err := b.client.Enqueue(asynq.NewTask("dedupe.me", []byte(`{"key":"order-1","ms":400}`)),
		asynq.TaskID("third"), asynq.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "third settled", func() bool {
		q, _ := b.inspector.GetQueueInfo("default")
		return q != nil && q.Completed == 3
	})
	if n := c.get("order-1"); n != 1 {
		t.Fatalf("handler ran %d times for one dedupe key", n)
	}
	if got := b.logs.Events("job.done"); len(got) != 1 {
		t.Fatalf("%d job.done lines", len(got))
	}
	skipped := b.logs.Events("job.skipped")
	if len(skipped) != 2 || skipped[0]["reason"] != "duplicate_done" {
		t.Fatalf("skipped = %v", skipped)
	}
	for _, l := range b.logs.Events("job.deferred") {
		if l["reason"] != "duplicate_in_flight" || l["holder"] == "" {
			t.Fatalf("deferred line = %v", l)
		}
	}
	// Every copy completed with the first run's result; the skipped ones
	// say so on asynq's hash of the task, for enqueue --wait.
	ran := b.logs.Events("job.done")[0]["task_id"]
	for _, id := range []string{"first", "second", "third"} {
		if info := taskInfo(t, b, "default", id); string(info.Result) != "result:order-1" {
			t.Errorf("%s: result %q", id, info.Result)
		}
		mark := b.rdb.HGet(t.Context(), asynqdb.TaskKey("default", id), asynqdb.SkippedField).Val()
		if want := map[bool]string{true: "", false: "duplicate_done"}[id == ran]; mark != want {
			t.Errorf("%s: skip mark %q, want %q", id, mark, want)
		}
	}
}

func TestDedupeFailedAttemptDoesNotBlockRetry(t *testing.T) {
	r, b := harness(t, runner.Config{DuplicateDelay: 100 * time.Millisecond})
	c := &counter{runs: map[string]int{}}
	if err := r.Register(dedupeDefinition(c)); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	if _, err := b.client.Enqueue(asynq.NewTask("dedupe.me", []byte(`{"key":"k","fails":2}`)), asynq.MaxRetry(5)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "done", func() bool { return len(b.logs.Events("job.done")) == 1 })
	if n := c.get("k"); n != 3 {
		t.Fatalf("ran %d times, want 3 (two failures then success)", n)
	}
	if d := b.logs.Events("job.deferred"); len(d) != 0 {
		t.Fatalf("a failed attempt's marker blocked its retry: %v", d)
	}
}

func TestDedupeRedeliveryTakesOverItsMarker(t *testing.T) {
	r, b := harness(t, runner.Config{DuplicateDelay: 100 * time.Millisecond})
	c := &counter{runs: map[string]int{}}
	if err := r.Register(dedupeDefinition(c)); err != nil {
		t.Fatal(err)
	}
	// A worker died while running task "crashed": its marker is still there.
	store := lockcore.NewRedisStore(b.rdb, lockcore.RedisConfig{})
	adm, err := store.Admit(context.Background(), lockcore.AdmitRequest{DedupeKey: "dedupe.me:k", TaskID: "crashed", MarkerTTL: time.Minute})
	if err != nil || adm.Verdict != lockcore.Admitted {
		t.Fatalf("admit: %v %v", adm.Verdict, err)
	}
	start(t, r)
	// Another task with the same key waits for the marker ...
	if _, err := b.client.Enqueue(asynq.NewTask("dedupe.me", []byte(`{"key":"k"}`)), asynq.TaskID("other")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "other deferred", func() bool { return len(b.logs.Events("job.deferred")) > 0 })
	if c.get("k") != 0 {
		t.Fatal("a duplicate ran while the marker was held by another task")
	}
	// ... while the redelivered task takes its own marker over and runs.
	if _, err := b.client.Enqueue(asynq.NewTask("dedupe.me", []byte(`{"key":"k"}`)), asynq.TaskID("crashed")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "both settled", func() bool {
		return len(b.logs.Events("job.done")) == 1 && len(b.logs.Events("job.skipped")) == 1
	})
	if done := b.logs.Events("job.done"); done[0]["task_id"] != "crashed" {
		t.Fatalf("done = %v", done)
	}
	if c.get("k") != 1 {
		t.Fatalf("ran %d times", c.get("k"))
	}
}

func TestDedupeByTaskIDAndStoreDownFailsClosed(t *testing.T) {
	store := lockcore.NewMemoryStore(lockcore.MemoryConfig{})
	r, b := harness(t, runner.WithLocks(runner.Config{}, store))
	var runs atomic.Int32
	err := r.Register(&job.Definition[keyed]{
		Type:      "by.id",
		DedupeKey: job.ByTaskID[keyed],
		Handle:    func(context.Context, keyed) error { runs.Add(1); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	store.SetError(errors.New("redis: connection refused"))
	start(t, r)
	if _, err := b.client.Enqueue(asynq.NewTask("by.id", []byte(`{}`)), asynq.TaskID("x"), asynq.MaxRetry(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "deferred", func() bool { return len(b.logs.Events("job.deferred")) > 0 })
	if runs.Load() != 0 {
		t.Fatal("job ran although the lock store was down")
	}
	if l := b.logs.Events("job.deferred")[0]; l["reason"] != "store_unavailable" {
		t.Fatalf("deferred = %v", l)
	}
	store.SetError(nil)
	waitFor(t, 10*time.Second, "done", func() bool { return runs.Load() == 1 })
	if q, _ := b.inspector.GetQueueInfo("default"); q.Archived != 0 {
		t.Fatalf("archived %d", q.Archived)
	}
}

// TestDedupeWindowPerJobType: a job type's DedupeWindow replaces the
// runner's: a duplicate after its window runs again, while one of a type
// on the runner's default window is still skipped.
func TestDedupeWindowPerJobType(t *testing.T) {
	r, b := harness(t, runner.Config{DuplicateDelay: 100 * time.Millisecond})
	short, long := &counter{runs: map[string]int{}}, &counter{runs: map[string]int{}}
	ds, dl := dedupeDefinition(short), dedupeDefinition(long)
	ds.Type, ds.DedupeWindow = "dedupe.short", time.Second
	dl.Type = "dedupe.long"
	if err := r.Register(ds, dl); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	enqueue := func(n int) {
		for _, typ := range []string{"dedupe.short", "dedupe.long"} {
			if _, err := b.client.Enqueue(asynq.NewTask(typ, []byte(`{"key":"k"}`))); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 10*time.Second, "settled", func() bool {
			return len(b.logs.Events("job.done"))+len(b.logs.Events("job.skipped")) == n
		})
	}
	enqueue(2)
	ttl := b.rdb.PTTL(t.Context(), "jobrunner:{dedupe.short:k}:inflight").Val()
	if ttl <= 0 || ttl > time.Second {
		t.Errorf("dedupe.short's record expires in %v, want at most its 1s window", ttl)
	}
	time.Sleep(1200 * time.Millisecond)
	enqueue(4)
	if n := short.get("k"); n != 2 {
		t.Errorf("dedupe.short ran %d times, want 2 (its 1s window had passed)", n)
	}
	if n := long.get("k"); n != 1 {
		t.Errorf("dedupe.long ran %d times, want 1 (the runner's 24h window)", n)
	}
}
