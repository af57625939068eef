package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/testkit/clock"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

// alwaysDefers is a job whose handler defers it every time, like a job
// waiting on a lock that is never freed.
func alwaysDefers(typ string, maxDeferral time.Duration) *job.Definition[greet] {
	return &job.Definition[greet]{Type: typ, MaxDeferral: maxDeferral,
		Handle: func(context.Context, greet) error { return job.Defer("waiting", 10*time.Millisecond, nil) }}
}

func TestDeferralIsBounded(t *testing.T) {
	clk := clock.NewFake()
	r, b := harness(t, runner.Config{Now: clk.Now})
	if err := r.Register(alwaysDefers("defers.default", 0), alwaysDefers("defers.hour", time.Hour)); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	// MaxRetry 0: every deferral happens on the last attempt, so the job
	// lives on as a chain of copies; the bound must end the chain too.
	for _, typ := range []string{"defers.default", "defers.hour"} {
		if _, err := b.client.Enqueue(asynq.NewTask(typ, []byte(`{"name":"a"}`)), asynq.MaxRetry(0), asynq.TaskID(typ)); err != nil {
			t.Fatal(err)
		}
	}
	deferrals := func(typ string) int {
		n := 0
		for _, l := range b.logs.Events("job.deferred") {
			if l["type"] == typ {
				n++
			}
		}
		return n
	}
	archived := func(typ string) []map[string]any {
		var out []map[string]any
		for _, l := range b.logs.Events("job.failed") {
			if l["type"] == typ {
				out = append(out, l)
			}
		}
		return out
	}
	waitFor(t, 10*time.Second, "a few deferrals", func() bool { return deferrals("defers.default") >= 3 && deferrals("defers.hour") >= 3 })

	clk.Advance(time.Hour + time.Minute) // past the definition's bound only
	waitFor(t, 10*time.Second, "defers.hour archived", func() bool { return len(archived("defers.hour")) == 1 })
	n := deferrals("defers.default")
	waitFor(t, 10*time.Second, "defers.default still deferring", func() bool { return deferrals("defers.default") >= n+3 })
	if len(archived("defers.default")) != 0 {
		t.Fatalf("defers.default archived after 1h: %v", archived("defers.default"))
	}
	// Each copy waits in the scheduled set, which the status counts as
	// deferred, with the age of the first deferral.
	waitFor(t, 10*time.Second, "the status to count the copy", func() bool {
		body, _ := getStatus(t, r, "/status.json")
		var doc statusDoc
		_ = json.Unmarshal([]byte(body), &doc)
		for _, g := range doc.Deferred.ByReason {
			if g.Reason == "waiting" && g.Queue == "default" && g.OldestAgeMS >= time.Hour.Milliseconds() {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
		return false
	})

	// Past three quarters of its bound, each deferral is counted late.
	clk.Advance(18 * time.Hour)
	n = deferrals("defers.default")
	waitFor(t, 10*time.Second, "defers.default deferred late", func() bool { return deferrals("defers.default") >= n+2 })
	if body := metricsBody(t, r); !strings.Contains(body, `jobrunner_deferrals_late_total{reason="waiting",type="defers.default"}`) {
		t.Errorf("metrics lack the late deferrals:\n%s", grepLines(body, "deferrals_late"))
	}

	clk.Advance(5 * time.Hour) // past the runner's 24h default
	waitFor(t, 10*time.Second, "defers.default archived", func() bool { return len(archived("defers.default")) == 1 })
	for _, typ := range []string{"defers.default", "defers.hour"} {
		l := archived(typ)[0]
		if l["reason"] != "deferred_too_long" || l["last_reason"] != "waiting" || l["final"] != true ||
			!strings.Contains(l["error"].(string), "MaxDeferral") {
			t.Errorf("%s archived with line %v", typ, l)
		}
	}
	// The chain of copies ends in the archive, with nothing left pending.
	waitFor(t, 5*time.Second, "nothing left but the archive", func() bool {
		q, err := b.inspector.GetQueueInfo("default")
		return err == nil && q.Archived == 2 && q.Pending == 0 && q.Scheduled == 0 && q.Retry == 0 && q.Active == 0
	})
	if body := metricsBody(t, r); !strings.Contains(body, `jobrunner_deferrals_expired_total{reason="waiting",type="defers.hour"} 1`) {
		t.Errorf("metrics lack the expired deferral:\n%s", grepLines(body, "deferrals_expired"))
	}
}

func TestUnknownTypeWaitsWithoutSpendingAttempts(t *testing.T) {
	r, b := harness(t, runner.Config{})
	start(t, r)
	if _, err := b.client.Enqueue(asynq.NewTask("newer.type", []byte(`{"name":"a"}`)), asynq.MaxRetry(3), asynq.TaskID("u")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the first deferral", func() bool { return len(b.logs.Events("job.deferred")) == 1 })
	// The line is logged inside the chain; asynq writes the outcome after.
	waitFor(t, 5*time.Second, "the task waiting for its retry", func() bool {
		return taskInfo(t, b, "default", "u").State != asynq.TaskStateActive
	})
	info := taskInfo(t, b, "default", "u")
	if info.State != asynq.TaskStateRetry || info.Retried != 0 {
		t.Fatalf("after a deferral: state %v retried %d, want retry with 0 attempts spent", info.State, info.Retried)
	}
	// Run it again now rather than in 5s: the next deferral waits longer.
	if err := b.inspector.RunTask("default", "u"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the second deferral", func() bool { return len(b.logs.Events("job.deferred")) == 2 })
	ls := b.logs.Events("job.deferred")
	first, second := ls[0]["retry_in_ms"].(float64), ls[1]["retry_in_ms"].(float64)
	if ls[0]["reason"] != "unknown_type" || first < 5000 || first > 7500 || second < 10000 || second > 15000 {
		t.Fatalf("deferrals %v then %v, want unknown_type after 5-7.5s then 10-15s", ls[0], ls[1])
	}
	if info := taskInfo(t, b, "default", "u"); info.Retried != 0 {
		t.Fatalf("retried = %d after two deferrals, want 0", info.Retried)
	}

	// A worker that knows the type runs it.
	r2, _ := setupOn(t, b, runner.Config{})
	if err := r2.Register(&job.Definition[greet]{Type: "newer.type", Handle: func(context.Context, greet) error { return nil }}); err != nil {
		t.Fatal(err)
	}
	_ = r.Shutdown(context.Background())
	start(t, r2)
	if err := b.inspector.RunTask("default", "u"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "done by the newer worker", func() bool {
		info, err := b.inspector.GetTaskInfo("default", "u")
		return err != nil || info.State == asynq.TaskStateCompleted // completed tasks without retention are deleted
	})
}

// TestLastAttemptCopyKeepsTheTasksOptions defers a job on its last attempt,
// so that it lives on as a copy: the copy keeps the original's deadline and
// retention and holds its uniqueness lock until it completes.
func TestLastAttemptCopyKeepsTheTasksOptions(t *testing.T) {
	r, b := harness(t, runner.Config{})
	var runs atomic.Int32
	err := r.Register(&job.Definition[greet]{Type: "defers.once", Handle: func(context.Context, greet) error {
		if runs.Add(1) == 1 {
			return job.Defer("waiting", 500*time.Millisecond, nil)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	task := asynq.NewTask("defers.once", []byte(`{"name":"a"}`))
	_, err = b.client.Enqueue(task, asynq.MaxRetry(0), asynq.TaskID("u"), asynq.Unique(time.Hour),
		asynq.Retention(time.Hour), asynq.Deadline(deadline))
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	waitFor(t, 10*time.Second, "the copy", func() bool {
		_, err := b.inspector.GetTaskInfo("default", "u~1")
		return err == nil
	})
	info := taskInfo(t, b, "default", "u~1")
	if !info.Deadline.Equal(deadline) || info.Retention != time.Hour {
		t.Fatalf("copy: deadline %v retention %v, want %v and 1h", info.Deadline, info.Retention, deadline)
	}
	if _, err := b.client.Enqueue(task, asynq.Unique(time.Hour)); !errors.Is(err, asynq.ErrDuplicateTask) {
		t.Fatalf("a duplicate enqueued while the copy waits: %v, want ErrDuplicateTask", err)
	}
	waitFor(t, 10*time.Second, "the copy completed", func() bool {
		return taskInfo(t, b, "default", "u~1").State == asynq.TaskStateCompleted
	})
	// Its completion released the uniqueness lock, as asynq's would.
	if _, err := b.client.Enqueue(task, asynq.Unique(time.Hour), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatalf("enqueue after the copy completed: %v", err)
	}
}
