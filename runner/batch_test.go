package runner_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

type batchItem struct {
	ID   string `json:"id"`
	Mode string `json:"mode"`
	Key  string `json:"key,omitempty"`
}

type batchNote struct {
	Note string `json:"note"`
}

// batchJobs are a batch member type whose behaviour the payload's mode
// picks, and a callback type that records job.BatchOf, with a log of when
// each handler ended.
type batchJobs struct {
	mu        sync.Mutex
	runs      map[string]int
	lastEnd   time.Time // the end of the latest member handler run
	active    int       // member handlers running now
	early     int       // callbacks that started while a member handler ran
	callbacks []job.BatchStatus
	cbStart   []time.Time
	member    *job.Definition[batchItem]
	callback  *job.Definition[batchNote]
}

func newBatchJobs() *batchJobs {
	j := &batchJobs{runs: map[string]int{}}
	j.member = &job.Definition[batchItem]{Type: "batch.member", MaxRetry: 2, Handle: j.run,
		Backoff:   func(int, error) time.Duration { return 10 * time.Millisecond },
		DedupeKey: func(p batchItem) string { return p.Key }}
	j.callback = &job.Definition[batchNote]{Type: "batch.callback", Handle: j.onComplete,
		DedupeKey: job.ByTaskID[batchNote]}
	return j
}

func (j *batchJobs) run(ctx context.Context, p batchItem) error {
	time.Sleep(5 * time.Millisecond)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.active++
	defer func() { j.lastEnd = time.Now(); j.active-- }()
	j.runs[p.ID]++
	n := j.runs[p.ID]
	switch p.Mode {
	case "fail-once":
		if n == 1 {
			return errors.New("first attempt fails")
		}
	case "fail-always":
		return errors.New("always fails")
	case "permanent":
		return job.Permanent(errors.New("bad request"))
	case "defer-last":
		// Two failures, then a deferral on the last attempt: the runner
		// re-enqueues a copy, which completes.
		switch {
		case n <= 2:
			return errors.New("fails")
		case n == 3:
			return job.Defer("test", 10*time.Millisecond, nil)
		}
	case "slow":
		j.mu.Unlock()
		time.Sleep(300 * time.Millisecond)
		j.mu.Lock()
	}
	return nil
}

func (j *batchJobs) onComplete(ctx context.Context, p batchNote) error {
	start := time.Now()
	st, err := job.BatchOf(ctx)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.active > 0 {
		j.early++
	}
	j.callbacks = append(j.callbacks, st)
	j.cbStart = append(j.cbStart, start)
	return nil
}

func (j *batchJobs) calls() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.callbacks)
}

// TestBatchCallbackOnce: a batch's callback is enqueued exactly once, after
// every job finished for good and the batch was closed, never before, and
// reads the outcome with job.BatchOf. The jobs complete, are retried, are
// archived (permanent error, retries exhausted), are deferred on their last
// attempt (the runner's copy carries the job), and are skipped as a
// duplicate; each counts once.
func TestBatchCallbackOnce(t *testing.T) {
	j := newBatchJobs()
	r, b := harness(t, runner.Config{})
	if err := r.Register(j.member, j.callback); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cb, err := job.OnComplete(j.callback, batchNote{Note: "all done"})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := job.NewBatch(ctx, b.rdb, job.BatchOptions{OnComplete: cb})
	if err != nil {
		t.Fatal(err)
	}
	items := []batchItem{
		{ID: "ok1", Mode: "ok"}, {ID: "ok2", Mode: "ok"}, {ID: "retry", Mode: "fail-once"},
		{ID: "perm", Mode: "permanent"}, {ID: "exhausted", Mode: "fail-always"},
		{ID: "copy", Mode: "defer-last"},
		{ID: "dup1", Mode: "slow", Key: "same"}, {ID: "dup2", Mode: "slow", Key: "same"},
	}
	ids := map[string]string{}
	for _, it := range items[:4] { // added in two calls
		info, err := j.member.EnqueueIn(ctx, batch, it)
		if err != nil {
			t.Fatal(err)
		}
		ids[it.ID] = info.ID
	}
	start(t, r)
	for _, it := range items[4:] {
		info, err := j.member.EnqueueIn(ctx, batch, it)
		if err != nil {
			t.Fatal(err)
		}
		ids[it.ID] = info.ID
	}
	// Closed while jobs still run: the worker that counts the last one
	// enqueues the callback.
	if err := batch.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st, err := batch.Status(ctx); err != nil || st.Done == len(items) {
		t.Fatalf("status at Close: %+v, %v; the test wants jobs still running", st, err)
	}
	waitFor(t, 30*time.Second, "the callback", func() bool { return j.calls() > 0 })
	if err := batch.Close(ctx); err != nil { // a second Close changes nothing
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.callbacks) != 1 {
		t.Fatalf("the callback ran %d times, want 1", len(j.callbacks))
	}
	st := j.callbacks[0]
	wantArchived := []string{ids["perm"], ids["exhausted"]}
	slices.Sort(wantArchived)
	slices.Sort(st.ArchivedIDs)
	if st.ID != batch.ID() || st.Total != len(items) || st.Done != len(items) || st.Succeeded != len(items)-2 ||
		st.Archived != 2 || !slices.Equal(st.ArchivedIDs, wantArchived) || !st.Closed || !st.Finished {
		t.Fatalf("BatchOf in the callback: %+v, want 8 done, 6 succeeded, archived %v", st, wantArchived)
	}
	if !j.cbStart[0].After(j.lastEnd) || j.early > 0 {
		t.Fatalf("the callback started at %v, before the last job ended at %v", j.cbStart[0], j.lastEnd)
	}
	if j.runs["copy"] != 4 || j.runs["retry"] != 2 || j.runs["dup1"]+j.runs["dup2"] != 1 {
		t.Fatalf("runs %v: want copy 4, retry 2, one of dup1 and dup2", j.runs)
	}
	logs := b.logs.String()
	if !strings.Contains(logs, `"batch":"`+batch.ID()+`"`) {
		t.Fatalf("no log line names the batch:\n%s", logs)
	}
	body := metricsBody(t, r)
	for _, want := range []string{"jobrunner_batches_finished_total 1", "jobrunner_batch_size_count 1", "jobrunner_batch_size_sum 8"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(body, "batch"))
		}
	}
}

// TestBatchEmptyAndDoneBeforeClose: an empty batch runs its callback at
// Close, as does a batch whose jobs all finished before Close; a job
// added after Close is refused.
func TestBatchEmptyAndDoneBeforeClose(t *testing.T) {
	j := newBatchJobs()
	r, b := harness(t, runner.Config{})
	if err := r.Register(j.member, j.callback); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	ctx := context.Background()
	cb, err := job.OnComplete(j.callback, batchNote{})
	if err != nil {
		t.Fatal(err)
	}
	empty, err := job.NewBatch(ctx, b.rdb, job.BatchOptions{OnComplete: cb, ID: "empty"})
	if err != nil {
		t.Fatal(err)
	}
	if err := empty.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the empty batch's callback", func() bool { return j.calls() == 1 })
	if _, err := j.member.EnqueueIn(ctx, empty, batchItem{ID: "late"}); !errors.Is(err, job.ErrBatchClosed) {
		t.Fatalf("EnqueueIn a closed batch: %v, want ErrBatchClosed", err)
	}
	if _, err := job.NewBatch(ctx, b.rdb, job.BatchOptions{OnComplete: cb, ID: "empty"}); err == nil {
		t.Fatal("NewBatch reused an ID")
	}
	done, err := job.NewBatch(ctx, b.rdb, job.BatchOptions{OnComplete: cb})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := j.member.EnqueueIn(ctx, done, batchItem{ID: fmt.Sprint("d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the jobs", func() bool {
		st, err := done.Status(ctx)
		return err == nil && st.Done == 3
	})
	if j.calls() != 1 {
		t.Fatal("a callback ran before Close")
	}
	if err := done.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the second callback", func() bool { return j.calls() == 2 })
	j.mu.Lock()
	defer j.mu.Unlock()
	if st := j.callbacks[0]; st.ID != "empty" || st.Total != 0 {
		t.Errorf("empty batch's callback saw %+v", st)
	}
	if st := j.callbacks[1]; st.ID != done.ID() || st.Total != 3 || st.Succeeded != 3 {
		t.Errorf("second callback saw %+v", st)
	}
}

// TestBatchRedeliveryCountsOnce: a job that runs again after it finished
// (as after a lost completion: here a second task with the same batch
// headers, skipped by its dedupe record) counts once, so the callback
// still waits for the batch's other job.
func TestBatchRedeliveryCountsOnce(t *testing.T) {
	j := newBatchJobs()
	r, b := harness(t, runner.Config{})
	if err := r.Register(j.member, j.callback); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	ctx := context.Background()
	cb, err := job.OnComplete(j.callback, batchNote{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := job.NewBatch(ctx, b.rdb, job.BatchOptions{OnComplete: cb})
	if err != nil {
		t.Fatal(err)
	}
	first, err := j.member.EnqueueIn(ctx, batch, batchItem{ID: "a", Key: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.member.EnqueueIn(ctx, batch, batchItem{ID: "slow", Mode: "slow"}); err != nil {
		t.Fatal(err)
	}
	if err := batch.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the first job", func() bool {
		st, err := batch.Status(ctx)
		return err == nil && st.Done == 1
	})
	again := asynq.NewTaskWithHeaders(first.Type, first.Payload, first.Headers)
	if _, err := b.client.Enqueue(again); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the callback", func() bool { return j.calls() == 1 })
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.runs["slow"] != 1 || j.early > 0 || !j.cbStart[0].After(j.lastEnd) {
		t.Fatalf("the callback started at %v, the slow job ended at %v (runs %v)", j.cbStart[0], j.lastEnd, j.runs)
	}
	if st := j.callbacks[0]; st.Total != 2 || st.Done != 2 || st.Succeeded != 2 {
		t.Fatalf("BatchOf: %+v", st)
	}
}

// batchKeyCounter counts the commands that name a batch's keys: scripts
// (the counts) and the others.
type batchKeyCounter struct{ n, scripts atomic.Int64 }

func (c *batchKeyCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *batchKeyCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.count(cmd)
		return next(ctx, cmd)
	}
}

func (c *batchKeyCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.count(cmd)
		}
		return next(ctx, cmds)
	}
}

func (c *batchKeyCounter) count(cmd redis.Cmder) {
	for _, a := range cmd.Args() {
		if s, ok := a.(string); ok && strings.HasPrefix(s, "jobrunner:{batch:") {
			c.n.Add(1)
			if name := cmd.Name(); name == "evalsha" || name == "eval" {
				c.scripts.Add(1)
			}
			return
		}
	}
}

// TestBatchCostOneWritePerJob: the worker sends a job outside a batch no
// command about batches, and a job in a batch one (the count script; the
// first calls, one per worker slot running at once, may be sent twice,
// EVALSHA then EVAL, while Redis has not cached the script yet); a batch adds a few for its callback (the
// enqueue's mark, job.BatchOf's read of two keys, the size metric's read of
// two keys).
func TestBatchCostOneWritePerJob(t *testing.T) {
	j := newBatchJobs()
	const slots = 4
	r, b := harness(t, runner.Config{Concurrency: slots})
	if err := r.Register(j.member, j.callback); err != nil {
		t.Fatal(err)
	}
	var worker batchKeyCounter
	b.rdb.AddHook(&worker)
	producer := b.redis.Client()
	ctx := context.Background()
	const n = 40
	for i := range n {
		if _, err := j.member.Enqueue(ctx, asynq.NewClientFromRedisClient(producer), batchItem{ID: fmt.Sprint("plain", i)}); err != nil {
			t.Fatal(err)
		}
	}
	start(t, r)
	waitFor(t, 20*time.Second, "the plain jobs", func() bool {
		j.mu.Lock()
		defer j.mu.Unlock()
		return len(j.runs) == n
	})
	if got := worker.n.Load(); got != 0 {
		t.Fatalf("jobs outside a batch sent %d commands about batches", got)
	}
	cb, err := job.OnComplete(j.callback, batchNote{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := job.NewBatch(ctx, producer, job.BatchOptions{OnComplete: cb})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := j.member.EnqueueIn(ctx, batch, batchItem{ID: fmt.Sprint("member", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Close(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the callback", func() bool { return j.calls() == 1 })
	time.Sleep(200 * time.Millisecond) // the callback's settle
	got, scripts := worker.n.Load(), worker.scripts.Load()
	t.Logf("%d jobs in a batch: %d commands about batches on the worker, %d of them scripts", n, got, scripts)
	if scripts < n || scripts > n+slots || got-scripts > 5 {
		t.Fatalf("%d jobs in a batch sent %d script calls and %d other commands about batches; want %d (one per job, and at most %d more for loading the script) and at most 5 for the callback",
			n, scripts, got-scripts, n, slots)
	}
}
