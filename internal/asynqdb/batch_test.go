package asynqdb_test

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// TestBatchReadByAsynq: each kind of task a Batch writes (pending or
// scheduled, with or without a uniqueness lock) reads back through asynq's
// Inspector with the fields it was given, is honoured by asynq's Client
// (ID conflicts, uniqueness), and runs on asynq's Server with its payload
// and headers.
func TestBatchReadByAsynq(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	client := asynq.NewClientFromRedisClient(rdb)
	ctx := context.Background()
	now := time.Now()
	later := now.Add(2 * time.Second)
	deadline := now.Add(time.Hour).Truncate(time.Second)
	type spec struct {
		id        string
		processAt time.Time
		unique    time.Duration
	}
	specs := []spec{{"e", now, 0}, {"eu", now, time.Hour}, {"s", later, 0}, {"su", later, time.Hour}}
	if err := rdb.SAdd(ctx, asynqdb.AllQueues, "q").Err(); err != nil {
		t.Fatal(err)
	}
	if err := asynqdb.LoadScript(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	b := asynqdb.NewBatch("q", now)
	headers := map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "k": "v"}
	for _, s := range specs {
		b.Add(&asynqdb.Message{Type: "t", Payload: []byte(`{"id":"` + s.id + `"}`), ID: s.id, Queue: "q",
			Retry: 7, Timeout: 90, Deadline: deadline.Unix(), Retention: 3600, Headers: headers}, s.processAt, now, s.unique)
	}
	out, err := b.Outcomes(b.Eval(ctx, rdb))
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range out {
		if n != asynqdb.Wrote {
			t.Fatalf("task %s: outcome %d, want written", specs[i].id, n)
		}
	}
	again := asynqdb.NewBatch("q", now)
	again.Add(&asynqdb.Message{Type: "t", Payload: []byte(`{"id":"e"}`), ID: "e", Queue: "q"}, now, now, 0)
	again.Add(&asynqdb.Message{Type: "t", Payload: []byte(`{"id":"eu"}`), ID: "other", Queue: "q"}, now, now, time.Hour)
	if out, err := again.Outcomes(again.Eval(ctx, rdb)); err != nil || out[0] != asynqdb.IDConflict || out[1] != asynqdb.NotUnique {
		t.Fatalf("rewrite: %v %v, want an ID conflict and a held uniqueness lock", out, err)
	}
	for _, s := range specs {
		info, err := insp.GetTaskInfo("q", s.id)
		if err != nil {
			t.Fatalf("%s: %v", s.id, err)
		}
		wantState := asynq.TaskStatePending
		if s.processAt.After(now) {
			wantState = asynq.TaskStateScheduled
		}
		if info.State != wantState || info.Type != "t" || string(info.Payload) != `{"id":"`+s.id+`"}` || info.MaxRetry != 7 ||
			info.Timeout != 90*time.Second || !info.Deadline.Equal(deadline) || info.Retention != time.Hour || !maps.Equal(info.Headers, headers) {
			t.Errorf("%s read back by asynq's Inspector as %+v", s.id, info)
		}
		if _, err := client.Enqueue(asynq.NewTask("t", []byte(`{"id":"`+s.id+`"}`)), asynq.Queue("q"), asynq.TaskID(s.id)); !errors.Is(err, asynq.ErrTaskIDConflict) {
			t.Errorf("%s: asynq's Client enqueued the same ID: %v", s.id, err)
		}
		if s.unique > 0 {
			if _, err := client.Enqueue(asynq.NewTask("t", []byte(`{"id":"`+s.id+`"}`)), asynq.Queue("q"), asynq.Unique(time.Hour)); !errors.Is(err, asynq.ErrDuplicateTask) {
				t.Errorf("%s: asynq's Client ignored the uniqueness lock: %v", s.id, err)
			}
		}
	}
	ran := make(chan *asynq.Task, len(specs))
	server := asynq.NewServerFromRedisClient(rdb, asynq.Config{Concurrency: 2, Queues: map[string]int{"q": 1},
		TaskCheckInterval: 20 * time.Millisecond, DelayedTaskCheckInterval: 200 * time.Millisecond, LogLevel: asynq.FatalLevel})
	if err := server.Start(asynq.HandlerFunc(func(_ context.Context, t *asynq.Task) error { ran <- t; return nil })); err != nil {
		t.Fatal(err)
	}
	defer server.Shutdown()
	for range specs {
		select {
		case task := <-ran:
			if task.Type() != "t" || !maps.Equal(task.Headers(), headers) {
				t.Errorf("ran %s %s with headers %v", task.Type(), task.Payload(), task.Headers())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("not every task ran")
		}
	}
}
