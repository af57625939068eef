package enqueue

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// dump returns every key of rdb with its contents, for comparing what two
// writers left behind. Volatile parts are normalised: pending_since
// (a timestamp) becomes "T", TTLs are rounded to 10s.
func dump(t *testing.T, rdb *redis.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		typ := rdb.Type(ctx, k).Val()
		var v string
		switch typ {
		case "hash":
			h := rdb.HGetAll(ctx, k).Val()
			if _, ok := h["pending_since"]; ok {
				h["pending_since"] = "T"
			}
			v = fmt.Sprintf("%q", h)
		case "list":
			v = fmt.Sprint(rdb.LRange(ctx, k, 0, -1).Val())
		case "zset":
			v = fmt.Sprint(rdb.ZRangeWithScores(ctx, k, 0, -1).Val())
		case "set":
			m := rdb.SMembers(ctx, k).Val()
			slices.Sort(m)
			v = fmt.Sprint(m)
		case "string":
			v = rdb.Get(ctx, k).Val()
		}
		if ttl := rdb.TTL(ctx, k).Val(); ttl > 0 {
			v += fmt.Sprintf(" ttl~%v", ttl.Round(10*time.Second))
		}
		out[k] = typ + " " + v
	}
	return out
}

// compatTasks covers the four ways asynq writes a task: pending or
// scheduled, each with or without a uniqueness lock, and every option.
func compatTasks(now time.Time) []task {
	deadline := now.Add(3 * time.Hour).Truncate(time.Second)
	later := now.Add(time.Hour).Truncate(time.Second)
	return []task{
		// One header only: asynq's Client writes map entries in Go's
		// random map order, so only a single entry compares byte for byte.
		{Type: "demo.sleep", Payload: []byte(`{"ms":1}`), Queue: "default", MaxRetry: 25, Timeout: 30 * time.Minute, TaskID: "plain",
			Headers: map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},
		{Type: "test.echo", Payload: []byte(`{"msg":"u"}`), Queue: "q1", MaxRetry: 3, Timeout: 45 * time.Second,
			Deadline: deadline, Unique: time.Hour, TaskID: "uniq", Retention: 10 * time.Minute},
		{Type: "demo.sleep", Payload: []byte(`{"ms":2}`), Queue: "q1", MaxRetry: 0, Timeout: 0, Deadline: deadline,
			ProcessAt: later, TaskID: "sched", Retention: time.Hour},
		{Type: "x.y", Payload: []byte(`[1]`), Queue: "q2", MaxRetry: 1, Timeout: time.Minute, ProcessAt: later,
			Unique: 20 * time.Minute, TaskID: "sched-uniq"},
	}
}

// TestBulkWritesWhatAsynqWrites enqueues the same tasks through asynq's
// Client into one Redis and through the bulk writer into another, and
// compares every key, byte for byte (the protobuf task message too).
func TestBulkWritesWhatAsynqWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	viaAsynq, viaBulk := redistest.Start(t).Client(), redistest.Start(t).Client()
	tasks := compatTasks(time.Now())
	client := asynq.NewClientFromRedisClient(viaAsynq)
	for _, tk := range tasks {
		if _, err := client.EnqueueContext(ctx, asynq.NewTaskWithHeaders(tk.Type, tk.Payload, tk.Headers), tk.asynqOptions()...); err != nil {
			t.Fatalf("asynq enqueue %s: %v", tk.TaskID, err)
		}
	}
	w := &bulkWriter{rdb: viaBulk, batch: 3, now: time.Now}
	out, err := w.write(ctx, tasks, nil)
	if err != nil || fmt.Sprint(out) != "[1 1 1 1]" {
		t.Fatalf("write = %v, %v", out, err)
	}
	want, got := dump(t, viaAsynq), dump(t, viaBulk)
	// 4 task hashes, 2 unique locks, pending lists of default and q1,
	// scheduled sets of q1 and q2, asynq:queues.
	if len(want) != 11 {
		t.Fatalf("asynq wrote %d keys: %v", len(want), want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("key %s:\nasynq: %s\nbulk:  %s", k, v, got[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("bulk wrote extra key %s", k)
		}
	}
	// A second write reports the unique duplicates and ID conflicts the
	// way asynq's scripts do.
	out, err = w.write(ctx, tasks, nil)
	if err != nil || fmt.Sprint(out) != fmt.Sprint([]int{idConflict, notUnique, idConflict, notUnique}) {
		t.Fatalf("rewrite = %v, %v", out, err)
	}
}

// TestBulkTasksReadAndRunByAsynq checks the bulk-written tasks through
// asynq's Inspector and runs them on a real asynq.Server.
func TestBulkTasksReadAndRunByAsynq(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	ctx := context.Background()
	now := time.Now()
	tasks := compatTasks(now)
	tasks[2].Headers = map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"tracestate": "vendor=abc", "baggage": "tenant=acme", "empty": ""}
	w := &bulkWriter{rdb: b.rdb, batch: 2, now: time.Now}
	if out, err := w.write(ctx, tasks, nil); err != nil || fmt.Sprint(out) != "[1 1 1 1]" {
		t.Fatalf("write = %v, %v", out, err)
	}
	insp := b.inspector()
	for _, tk := range tasks {
		info, err := insp.GetTaskInfo(tk.Queue, tk.TaskID)
		if err != nil {
			t.Fatalf("%s: %v", tk.TaskID, err)
		}
		state := asynq.TaskStatePending
		if !tk.ProcessAt.IsZero() {
			state = asynq.TaskStateScheduled
		}
		if info.Type != tk.Type || string(info.Payload) != string(tk.Payload) || info.Queue != tk.Queue ||
			info.MaxRetry != tk.MaxRetry || info.Timeout != tk.Timeout || !info.Deadline.Equal(tk.Deadline) ||
			info.Retention != tk.Retention || info.State != state ||
			(state == asynq.TaskStateScheduled && !info.NextProcessAt.Equal(tk.ProcessAt)) ||
			!maps.Equal(info.Headers, tk.Headers) {
			t.Errorf("%s: info = %+v", tk.TaskID, info)
		}
		if tk.Unique > 0 {
			ttl := b.rdb.TTL(ctx, asynqdb.UniqueKey(tk.Queue, tk.Type, tk.Payload)).Val()
			want := tk.Unique
			if !tk.ProcessAt.IsZero() {
				want += time.Until(tk.ProcessAt)
			}
			if ttl < want-5*time.Second || ttl > want+5*time.Second {
				t.Errorf("%s: unique TTL %v, want ~%v", tk.TaskID, ttl, want)
			}
		}
	}
	// Run them: the pending ones now, plus a batch of 200 more written in
	// one go, one of them scheduled a second ahead.
	var more []task
	for i := range 200 {
		more = append(more, task{Type: "demo.sleep", Payload: fmt.Appendf(nil, `{"ms":%d}`, i), Queue: "run",
			MaxRetry: 1, Timeout: time.Minute, Retention: time.Hour, Unique: time.Hour})
	}
	more[0].ProcessAt = time.Now().Add(time.Second)
	more[0].TaskID = "soon"
	if out, err := w.write(ctx, more, nil); err != nil || slices.ContainsFunc(out, func(o int) bool { return o != wrote }) {
		t.Fatalf("write more: %v", err)
	}
	var done atomic.Int64
	startWorker(t, b.rdb, echoHandler(&done), "default", "q1", "q2", "run")
	deadline := time.Now().Add(20 * time.Second)
	for done.Load() < 202 { // "plain", "uniq" and the 200
		if time.Now().After(deadline) {
			t.Fatalf("%d of 202 tasks ran", done.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	info, err := insp.GetTaskInfo("q1", "uniq")
	if err != nil || info.State != asynq.TaskStateCompleted || string(info.Result) != "echo: u" {
		t.Fatalf("uniq after run: %+v, %v", info, err)
	}
	info, err = insp.GetTaskInfo("run", "soon")
	if err != nil || info.State != asynq.TaskStateCompleted {
		t.Fatalf("soon after run: %+v, %v", info, err)
	}
	// asynq released the unique locks on success, as it does for its own.
	if n := b.rdb.Exists(ctx, asynqdb.UniqueKey("run", "demo.sleep", []byte(`{"ms":5}`))).Val(); n != 0 {
		t.Fatal("unique lock kept after success")
	}
}
