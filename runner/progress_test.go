package runner_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

// progressOf returns the progress written on task id's hash, "" for none.
func progressOf(t *testing.T, b *testBundle, id string) string {
	t.Helper()
	done, total, ok, err := asynqdb.Progress(t.Context(), b.rdb, "default", id)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d/%d", done, total)
}

// TestProgressReachesTheTaskAndTheSpan: job.Progress is written to the
// task's hash, where enqueue --wait reads it: the first report at once,
// reports that come quicker than every 500ms held back, the last one (done
// reaching total) at once; a report held back when the attempt ends without
// completing is written then. Each write is a progress event on the
// attempt's span.
func TestProgressReachesTheTaskAndTheSpan(t *testing.T) {
	tr := newTraced(t)
	r, b := harness(t, runner.Config{TracerProvider: tr.tp})
	step := make(chan struct{})
	next := make(chan struct{})
	err := r.Register(&job.Definition[walk]{Type: "progress", Handle: func(ctx context.Context, p walk) error {
		job.Progress(ctx, 1, p.N)
		job.Progress(ctx, 1, p.N) // no change: nothing to write
		step <- struct{}{}
		<-next
		job.Progress(ctx, 2, p.N) // within 500ms of the last write: held back
		step <- struct{}{}
		<-next
		if p.Fail != "" {
			return errors.New("failing with a report held back")
		}
		job.Progress(ctx, p.N, p.N)
		step <- struct{}{}
		<-next
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	if _, err := b.client.Enqueue(asynq.NewTask("progress", []byte(`{"n":3}`)), asynq.TaskID("p1"), asynq.Retention(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"1/3", "1/3", "3/3"} {
		<-step
		if got := progressOf(t, b, "p1"); got != want {
			t.Errorf("after report %d: progress %q, want %q", i+1, got, want)
		}
		next <- struct{}{}
	}
	span := tr.waitSpans(t, "job progress", 1)[0]
	var events []string
	for _, e := range span.Events {
		if e.Name == "progress" {
			var done, total int64
			for _, kv := range e.Attributes {
				switch kv.Key {
				case "jobrunner.job.progress.done":
					done = kv.Value.AsInt64()
				case "jobrunner.job.progress.total":
					total = kv.Value.AsInt64()
				}
			}
			events = append(events, fmt.Sprintf("%d/%d", done, total))
		}
	}
	if len(events) != 2 || events[0] != "1/3" || events[1] != "3/3" {
		t.Errorf("progress events %v, want [1/3 3/3]", events)
	}

	// A failure writes the report the throttle held back.
	if _, err := b.client.Enqueue(asynq.NewTask("progress", []byte(`{"n":3,"fail":"transient"}`)), asynq.TaskID("p2"), asynq.MaxRetry(0)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		<-step
		next <- struct{}{}
	}
	waitFor(t, 10*time.Second, "p2 archived", func() bool {
		info, err := b.inspector.GetTaskInfo("default", "p2")
		return err == nil && info.State == asynq.TaskStateArchived
	})
	if got := progressOf(t, b, "p2"); got != "2/3" {
		t.Errorf("after a failure: progress %q, want the held-back 2/3", got)
	}
}

// TestJobLogCarriesTheJobsFields: job.Log's lines carry task_id, type,
// queue and attempt, like the runner's own lines about the job.
func TestJobLogCarriesTheJobsFields(t *testing.T) {
	r, b := harness(t, runner.Config{Queues: map[string]int{"reports": 1}})
	err := r.Register(&job.Definition[walk]{Type: "logging", Queue: "reports", Backoff: func(int, error) time.Duration { return 10 * time.Millisecond },
		Handle: func(ctx context.Context, p walk) error {
			job.Log(ctx).Info().Str("event", "test.step").Int("step", p.N).Msg("a step")
			if n, _ := asynq.GetRetryCount(ctx); n == 0 {
				return errors.New("again")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	if _, err := b.client.Enqueue(asynq.NewTask("logging", []byte(`{"n":7}`)), asynq.TaskID("l1"), asynq.Queue("reports")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the job to complete", func() bool { return len(b.logs.Events("job.done")) == 1 })
	lines := b.logs.Events("test.step")
	if len(lines) != 2 {
		t.Fatalf("%d test.step lines, want 2: %v", len(lines), lines)
	}
	for i, l := range lines {
		if l["task_id"] != "l1" || l["type"] != "logging" || l["queue"] != "reports" || l["attempt"] != float64(i+1) || l["step"] != float64(7) {
			t.Errorf("line %d = %v; want the job's task_id, type, queue and attempt %d", i, l, i+1)
		}
	}
}
