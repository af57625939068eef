package runner_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

// walk is a long job's payload: N steps, failing as asked after a step.
type walk struct {
	N         int    `json:"n"`
	FailAfter int    `json:"fail_after,omitempty"` // fail the attempt that starts afresh after this step
	Fail      string `json:"fail,omitempty"`       // "transient" or "permanent"
}

// walker runs walk jobs and remembers what each attempt did.
type walker struct {
	mu      sync.Mutex
	steps   []int // every step run, in order, over all attempts
	resumed []int // the place each attempt resumed from (-1: none)
}

func (w *walker) handle(ctx context.Context, p walk) error {
	place := 0
	ok, err := job.Resume(ctx, &place)
	if err != nil {
		return err
	}
	first := !ok // a fresh job; a retry resumes
	w.mu.Lock()
	w.resumed = append(w.resumed, map[bool]int{true: place, false: -1}[ok])
	w.mu.Unlock()
	for i := place + 1; i <= p.N; i++ {
		w.mu.Lock()
		w.steps = append(w.steps, i)
		w.mu.Unlock()
		if err := job.Checkpoint(ctx, i); err != nil {
			return err
		}
		if first && i == p.FailAfter {
			if p.Fail == "permanent" {
				return job.Permanent(errors.New("walk: failing for good as asked"))
			}
			return errors.New("walk: failing as asked")
		}
	}
	return nil
}

func (w *walker) seen() (steps, resumed []int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.steps), slices.Clone(w.resumed)
}

// checkpointKeys returns the checkpoint keys in Redis.
func checkpointKeys(t *testing.T, b *testBundle) []string {
	t.Helper()
	keys, err := b.rdb.Keys(t.Context(), "*:checkpoint*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// walkDefinitions are the three ways a job can fence its checkpoint.
func walkDefinitions(w *walker) map[string]*job.Definition[walk] {
	backoff := func(int, error) time.Duration { return 10 * time.Millisecond }
	return map[string]*job.Definition[walk]{
		"dedupe key": {Type: "walk", Handle: w.handle, Backoff: backoff,
			DedupeKey: func(p walk) string { return fmt.Sprintf("walk-%d", p.N) }},
		"task ID": {Type: "walk", Handle: w.handle, Backoff: backoff, DedupeKey: job.ByTaskID[walk]},
		"lock only": {Type: "walk", Handle: w.handle, Backoff: backoff,
			Lock: func(walk) job.Lock { return job.Lock{Key: "walk-resource"} }},
	}
}

// TestCheckpointResumesAfterFailureAndGoesWithCompletion: a retry resumes
// from the place the failed attempt saved, every step runs once, and the
// checkpoint is gone once the job completes, whatever fences it.
func TestCheckpointResumesAfterFailureAndGoesWithCompletion(t *testing.T) {
	for name := range walkDefinitions(&walker{}) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := &walker{}
			r, b := harness(t, runner.Config{})
			if err := r.Register(walkDefinitions(w)[name]); err != nil {
				t.Fatal(err)
			}
			start(t, r)
			if _, err := b.client.Enqueue(asynq.NewTask("walk", []byte(`{"n":5,"fail_after":3}`)), asynq.TaskID("w1"), asynq.Retention(time.Hour)); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "the job to complete", func() bool {
				info, err := b.inspector.GetTaskInfo("default", "w1")
				return err == nil && info.State == asynq.TaskStateCompleted
			})
			steps, resumed := w.seen()
			if !slices.Equal(steps, []int{1, 2, 3, 4, 5}) || !slices.Equal(resumed, []int{-1, 3}) {
				t.Fatalf("steps %v, resumed from %v; want each step once, the retry resuming from 3", steps, resumed)
			}
			if keys := checkpointKeys(t, b); len(keys) != 0 {
				t.Fatalf("checkpoint keys left after completion: %v", keys)
			}
		})
	}
}

// TestCheckpointGoesWhenArchived: a job archived (a permanent failure, or a
// failure on its last attempt) leaves no checkpoint behind.
func TestCheckpointGoesWhenArchived(t *testing.T) {
	w := &walker{}
	r, b := harness(t, runner.Config{})
	d := walkDefinitions(w)["task ID"]
	if err := r.Register(d); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	for id, payload := range map[string]string{
		"permanent": `{"n":5,"fail_after":2,"fail":"permanent"}`,
		"last":      `{"n":5,"fail_after":2}`,
	} {
		if _, err := b.client.Enqueue(asynq.NewTask("walk", []byte(payload)), asynq.TaskID(id), asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, id+" archived", func() bool {
			info, err := b.inspector.GetTaskInfo("default", id)
			return err == nil && info.State == asynq.TaskStateArchived
		})
	}
	if keys := checkpointKeys(t, b); len(keys) != 0 {
		t.Fatalf("checkpoint keys left after archiving: %v", keys)
	}
	// A retried failure keeps it: that is what the retry resumes from.
	if _, err := b.client.Enqueue(asynq.NewTask("walk", []byte(`{"n":5,"fail_after":2}`)), asynq.TaskID("kept"), asynq.MaxRetry(1), asynq.ProcessIn(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a completion after the retry", func() bool { return len(b.logs.Events("job.done")) == 1 })
	if keys := checkpointKeys(t, b); len(keys) != 0 {
		t.Fatalf("checkpoint keys left after completion: %v", keys)
	}
	if _, resumed := w.seen(); !slices.Contains(resumed, 2) {
		t.Fatalf("the retry resumed from %v, want 2", resumed)
	}
}

// TestCheckpointFencedOut: an attempt whose marker a newer admission of the
// same task took over (as a redelivery does) cannot overwrite the newer
// attempt's checkpoint: its write is refused with job.ErrFencedOut, its
// context is cancelled, and its job is deferred (lock_lost) without
// spending an attempt; its next run resumes from the newer place.
func TestCheckpointFencedOut(t *testing.T) {
	r, b := harness(t, runner.Config{})
	saved := make(chan struct{})
	proceed := make(chan struct{})
	var (
		mu       sync.Mutex
		refusal  error
		cause    error
		resumes  []string
		attempts int
	)
	err := r.Register(&job.Definition[walk]{
		Type:      "fenced",
		DedupeKey: job.ByTaskID[walk],
		Handle: func(ctx context.Context, _ walk) error {
			var place string
			if _, err := job.Resume(ctx, &place); err != nil {
				return err
			}
			mu.Lock()
			attempts++
			n := attempts
			resumes = append(resumes, place)
			mu.Unlock()
			if n > 1 {
				return nil
			}
			if err := job.Checkpoint(ctx, "old-1"); err != nil {
				return err
			}
			close(saved)
			<-proceed
			err := job.Checkpoint(ctx, "old-2")
			mu.Lock()
			refusal, cause = err, context.Cause(ctx)
			mu.Unlock()
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	if _, err := b.client.Enqueue(asynq.NewTask("fenced", []byte(`{"n":1}`)), asynq.TaskID("f1"), asynq.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	<-saved
	// What a redelivery of f1 does: take its marker over and save its place.
	store := lockcore.NewRedisStore(b.rdb, lockcore.RedisConfig{})
	adm, err := store.Admit(t.Context(), lockcore.AdmitRequest{DedupeKey: "fenced:task:f1", TaskID: "f1"})
	if err != nil || adm.Verdict != lockcore.TakenOver {
		t.Fatalf("Admit = %v, %v; want taken_over", adm.Verdict, err)
	}
	if err := store.SaveCheckpoint(t.Context(), lockcore.Checkpoint{Lease: adm.Marker}, []byte(`"new-1"`), 0); err != nil {
		t.Fatal(err)
	}
	close(proceed)
	waitFor(t, 10*time.Second, "the job to complete", func() bool {
		info, err := b.inspector.GetTaskInfo("default", "f1")
		return err == nil && info.State == asynq.TaskStateCompleted
	})
	mu.Lock()
	defer mu.Unlock()
	if !errors.Is(refusal, job.ErrFencedOut) || !errors.Is(cause, lockcore.ErrLockLost) {
		t.Fatalf("the replaced attempt's Checkpoint = %v (context cause %v); want job.ErrFencedOut and a cancelled context", refusal, cause)
	}
	if !slices.Equal(resumes, []string{"", "new-1"}) {
		t.Fatalf("resumed from %q; want nothing, then the newer attempt's new-1", resumes)
	}
	if d := b.logs.Events("job.deferred"); len(d) != 1 || d[0]["reason"] != "lock_lost" {
		t.Fatalf("deferrals %v; want one lock_lost", d)
	}
	if info := taskInfo(t, b, "default", "f1"); info.Retried != 0 {
		t.Fatalf("retried %d; a fenced-out attempt spends none", info.Retried)
	}
}

// TestCheckpointRefusals: a job with nothing to fence its checkpoint, or a
// checkpoint over job.CheckpointMax, is archived at once with an error that
// says what to do; Redis unreachable defers the job without spending an
// attempt.
func TestCheckpointRefusals(t *testing.T) {
	mem := lockcore.NewMemoryStore(lockcore.MemoryConfig{})
	r, b := harness(t, runner.WithLocks(runner.Config{}, mem))
	var outage sync.Once
	err := r.Register(
		&job.Definition[walk]{Type: "unfenced", Handle: func(ctx context.Context, _ walk) error {
			return job.Checkpoint(ctx, 1)
		}},
		&job.Definition[walk]{Type: "unfenced.resume", Handle: func(ctx context.Context, _ walk) error {
			var place int
			_, err := job.Resume(ctx, &place)
			return err
		}},
		&job.Definition[walk]{Type: "huge", DedupeKey: job.ByTaskID[walk], Handle: func(ctx context.Context, _ walk) error {
			return job.Checkpoint(ctx, strings.Repeat("x", job.CheckpointMax))
		}},
		&job.Definition[walk]{Type: "outage", DedupeKey: job.ByTaskID[walk], Handle: func(ctx context.Context, _ walk) error {
			var err error
			outage.Do(func() {
				mem.SetError(errors.New("connection refused"))
				defer mem.SetError(nil)
				err = job.Checkpoint(ctx, 1)
			})
			return err
		}},
	)
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	for _, typ := range []string{"unfenced", "unfenced.resume", "huge", "outage"} {
		if _, err := b.client.Enqueue(asynq.NewTask(typ, []byte(`{"n":1}`)), asynq.TaskID(typ), asynq.Retention(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for typ, want := range map[string]string{
		"unfenced":        "job.ByTaskID works for any job",
		"unfenced.resume": "job.ByTaskID works for any job",
		"huge":            "over the 65536-byte bound",
	} {
		waitFor(t, 10*time.Second, typ+" archived", func() bool {
			info, err := b.inspector.GetTaskInfo("default", typ)
			return err == nil && info.State == asynq.TaskStateArchived
		})
		if info := taskInfo(t, b, "default", typ); info.Retried != 0 || !strings.Contains(info.LastErr, want) {
			t.Errorf("%s: archived after %d retries with %q; want at once, saying %q", typ, info.Retried, info.LastErr, want)
		}
	}
	waitFor(t, 10*time.Second, "outage completed", func() bool {
		info, err := b.inspector.GetTaskInfo("default", "outage")
		return err == nil && info.State == asynq.TaskStateCompleted
	})
	if info := taskInfo(t, b, "default", "outage"); info.Retried != 0 {
		t.Errorf("outage: retried %d; an unreachable store defers without spending an attempt", info.Retried)
	}
	var deferred bool
	for _, l := range b.logs.Events("job.deferred") {
		deferred = deferred || (l["task_id"] == "outage" && l["reason"] == "store_unavailable")
	}
	if !deferred {
		t.Errorf("no store_unavailable deferral of the outage job: %v", b.logs.Events("job.deferred"))
	}
}

// TestCheckpointFailOpenWaitsForRedis: a FailOpen lock's job that runs
// without its lock (Redis unreachable at admission) cannot fence a
// checkpoint: Checkpoint defers it (store_unavailable, no attempt spent)
// rather than archiving it as unfenced, and it completes once Redis is
// back.
func TestCheckpointFailOpenWaitsForRedis(t *testing.T) {
	mem := lockcore.NewMemoryStore(lockcore.MemoryConfig{})
	r, b := harness(t, runner.WithLocks(runner.Config{}, mem))
	err := r.Register(&job.Definition[walk]{Type: "failopen",
		Lock: func(walk) job.Lock { return job.Lock{Key: "shared", FailOpen: true} },
		Handle: func(ctx context.Context, _ walk) error {
			return job.Checkpoint(ctx, 1)
		}})
	if err != nil {
		t.Fatal(err)
	}
	mem.SetError(errors.New("connection refused"))
	start(t, r)
	if _, err := b.client.Enqueue(asynq.NewTask("failopen", []byte(`{"n":1}`)), asynq.TaskID("fo"), asynq.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a deferral", func() bool { return len(b.logs.Events("job.deferred")) > 0 })
	if d := b.logs.Events("job.deferred")[0]; d["reason"] != "store_unavailable" || len(b.logs.Events("lock.fail_open")) == 0 {
		t.Fatalf("deferral %v (fail_open lines %d); want store_unavailable after running unlocked", d, len(b.logs.Events("lock.fail_open")))
	}
	mem.SetError(nil)
	waitFor(t, 10*time.Second, "the job to complete", func() bool {
		info, err := b.inspector.GetTaskInfo("default", "fo")
		return err == nil && info.State == asynq.TaskStateCompleted
	})
	if info := taskInfo(t, b, "default", "fo"); info.Retried != 0 {
		t.Fatalf("retried %d, want no attempt spent", info.Retried)
	}
}
