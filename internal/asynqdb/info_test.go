package asynqdb_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// TestReadInfoMatchesInspector: ReadInfo reports what asynq's Inspector
// reports, field for field, for a task in each state a producer sees:
// pending, scheduled, retry (with its error), archived and completed (with
// its result).
func TestReadInfoMatchesInspector(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	ctx := context.Background()
	deadline := time.Now().Add(time.Hour).Truncate(time.Second)

	enqueue := func(typ, id string, opts ...asynq.Option) {
		t.Helper()
		task := asynq.NewTaskWithHeaders(typ, []byte(`{"a":1}`), map[string]string{"traceparent": "x"}, append(opts, asynq.TaskID(id))...)
		if _, err := client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
	}
	enqueue("t", "pending", asynq.Timeout(90*time.Second), asynq.MaxRetry(7), asynq.Deadline(deadline))
	enqueue("t", "scheduled", asynq.ProcessIn(time.Hour), asynq.Retention(time.Hour))
	enqueue("fail", "retry", asynq.Queue("work"), asynq.MaxRetry(3))
	enqueue("fail", "archived", asynq.Queue("work"), asynq.MaxRetry(0))
	enqueue("ok", "completed", asynq.Queue("work"), asynq.Retention(time.Hour))

	worker := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Queues:         map[string]int{"work": 1},
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour },
		LogLevel:       asynq.FatalLevel,
	})
	err := worker.Start(asynq.HandlerFunc(func(_ context.Context, task *asynq.Task) error {
		if task.Type() == "fail" {
			return errors.New("boom")
		}
		_, err := task.ResultWriter().Write([]byte("done"))
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer worker.Shutdown()
	want := map[string]asynq.TaskState{"pending": asynq.TaskStatePending, "scheduled": asynq.TaskStateScheduled,
		"retry": asynq.TaskStateRetry, "archived": asynq.TaskStateArchived, "completed": asynq.TaskStateCompleted}
	for id, state := range want {
		q := "default"
		if id == "retry" || id == "archived" || id == "completed" {
			q = "work"
		}
		var in *asynq.TaskInfo
		for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if in, err = insp.GetTaskInfo(q, id); err != nil {
				t.Fatal(err)
			}
			if in.State == state || time.Now().After(end) {
				break
			}
		}
		got, err := asynqdb.ReadInfo(ctx, rdb, q, id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got.State != in.State.String() || got.ID != in.ID || got.Queue != in.Queue || got.Type != in.Type ||
			!bytes.Equal(got.Payload, in.Payload) || !maps.Equal(got.Headers, in.Headers) ||
			got.MaxRetry != in.MaxRetry || got.Retried != in.Retried || got.LastErr != in.LastErr ||
			got.Group != in.Group || got.Timeout != in.Timeout || !got.Deadline.Equal(in.Deadline) ||
			got.Retention != in.Retention || !got.LastFailedAt.Equal(in.LastFailedAt) ||
			!got.CompletedAt.Equal(in.CompletedAt) || !bytes.Equal(got.Result, in.Result) ||
			// pending: "now" at the time of each read
			got.NextProcessAt.IsZero() != in.NextProcessAt.IsZero() ||
			state != asynq.TaskStatePending && !got.NextProcessAt.Equal(in.NextProcessAt) {
			t.Errorf("%s:\nReadInfo  %+v\nInspector %+v", id, got, *in)
		}
	}
	if _, err := asynqdb.ReadInfo(ctx, rdb, "default", "nope", time.Now()); !errors.Is(err, asynqdb.ErrNotFound) {
		t.Errorf("missing task: %v, want ErrNotFound", err)
	}
	if _, err := asynqdb.ReadInfo(ctx, rdb, "noqueue", "nope", time.Now()); !errors.Is(err, asynqdb.ErrNotFound) {
		t.Errorf("missing queue: %v, want ErrNotFound", err)
	}
}

// TestReadInfoHonoursDeadline: on a Redis that hangs, ReadInfo returns by
// its context's deadline.
func TestReadInfoHonoursDeadline(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	defer srv.Resume()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := asynqdb.ReadInfo(ctx, rdb, "default", "x", time.Now()); err == nil {
		t.Fatal("ReadInfo on a paused Redis succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("ReadInfo took %v with a 200ms deadline", d)
	}
}
