package asynqdb_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// TestReadMatchesInspector: what Read decodes of a stored task is what
// asynq's own Inspector reports, for each state the runner reads.
func TestReadMatchesInspector(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	client := asynq.NewClientFromRedisClient(rdb)
	insp := asynq.NewInspectorFromRedisClient(rdb)
	ctx := context.Background()
	deadline := time.Now().Add(time.Hour).Truncate(time.Second)
	for _, tc := range []struct {
		id   string
		opts []asynq.Option
	}{
		{"pending", []asynq.Option{asynq.Timeout(90 * time.Second), asynq.Retention(time.Hour), asynq.MaxRetry(7)}},
		{"scheduled", []asynq.Option{asynq.ProcessIn(time.Hour), asynq.Deadline(deadline)}},
	} {
		task := asynq.NewTaskWithHeaders("t", []byte(`{"a":1}`), map[string]string{"h": "v", "traceparent": "x"},
			append(tc.opts, asynq.TaskID(tc.id))...)
		if _, err := client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
		got, err := asynqdb.Read(ctx, rdb, "default", tc.id)
		if err != nil {
			t.Fatal(err)
		}
		want, err := insp.GetTaskInfo("default", tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != want.State.String() || got.Retried != want.Retried || got.MaxRetry != want.MaxRetry ||
			got.Timeout != want.Timeout || got.Retention != want.Retention || got.Type != want.Type || string(got.Payload) != string(want.Payload) {
			t.Errorf("%s: Read = %+v; Inspector: %+v", tc.id, got, want)
		}
		if !got.Deadline.Equal(want.Deadline) {
			t.Errorf("%s: Read deadline %v, Inspector %v", tc.id, got.Deadline, want.Deadline)
		}
		if got.Headers["h"] != "v" || got.Headers["traceparent"] != "x" {
			t.Errorf("%s: headers %v", tc.id, got.Headers)
		}
	}
	if _, err := asynqdb.Read(ctx, rdb, "default", "nope"); !errors.Is(err, asynqdb.ErrNotFound) {
		t.Errorf("Read of a missing task: %v, want ErrNotFound", err)
	}
}

// TestAddHeaderSeenByAsynqServer: a header added to a stored task reaches
// the handler through asynq's own Server, and survives asynq's rewrite of
// the message on a retry.
func TestAddHeaderSeenByAsynqServer(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	client := asynq.NewClientFromRedisClient(rdb)
	ctx := context.Background()
	task := asynq.NewTaskWithHeaders("t", []byte("p"), map[string]string{"orig": "1"}, asynq.TaskID("x"), asynq.MaxRetry(3))
	if _, err := client.Enqueue(task); err != nil {
		t.Fatal(err)
	}
	if err := asynqdb.AddHeader(ctx, rdb, "default", "x", "added", "yes"); err != nil {
		t.Fatal(err)
	}
	if err := asynqdb.AddHeader(ctx, rdb, "default", "nope", "added", "yes"); !errors.Is(err, asynqdb.ErrNotFound) {
		t.Errorf("AddHeader to a missing task: %v, want ErrNotFound", err)
	}
	var mu sync.Mutex
	var seen []map[string]string
	done := make(chan struct{})
	s := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 1, TaskCheckInterval: 20 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return 0 },
		LogLevel:       asynq.FatalLevel,
	})
	err := s.Start(asynq.HandlerFunc(func(_ context.Context, t *asynq.Task) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, t.Headers())
		if len(seen) == 1 {
			return errors.New("fail once")
		}
		close(done)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the task did not run twice")
	}
	mu.Lock()
	defer mu.Unlock()
	for i, h := range seen {
		if h["added"] != "yes" || h["orig"] != "1" {
			t.Errorf("run %d saw headers %v, want orig=1 and added=yes", i+1, h)
		}
	}
}
