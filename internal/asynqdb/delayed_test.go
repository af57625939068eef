package asynqdb_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// secretPayload is in every payload: Sample must never return it.
const secretPayload = "payload-secret-4711"

// retryTasks runs tasks through asynq's own Server into the retry set:
// "fail-N" fails (an attempt counted), "defer-N" returns an error asynq is
// told is no failure, as the runner's deferrals are.
func retryTasks(t *testing.T, rdb redis.UniversalClient, queue string, n int) {
	t.Helper()
	client := asynq.NewClientFromRedisClient(rdb)
	for i := range n {
		for _, kind := range []string{"fail", "defer"} {
			task := asynq.NewTaskWithHeaders("t", []byte(`{"secret":"`+secretPayload+strings.Repeat("x", 4096)+`"}`),
				map[string]string{"jobrunner-origin": "origin-" + kind, "authorization": "Bearer header-secret"},
				asynq.TaskID(fmt.Sprintf("%s-%d", kind, i)), asynq.MaxRetry(7), asynq.Queue(queue))
			if _, err := client.Enqueue(task); err != nil {
				t.Fatal(err)
			}
		}
	}
	done := make(chan struct{}, 2*n)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency: 4, Queues: map[string]int{queue: 1}, LogLevel: asynq.FatalLevel,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour },
		IsFailure:      func(err error) bool { return !strings.HasPrefix(err.Error(), "deferred") },
	})
	err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, task *asynq.Task) error {
		defer func() { done <- struct{}{} }()
		id, _ := asynq.GetTaskID(ctx)
		if strings.HasPrefix(id, "defer") {
			return errors.New("deferred (breaker_open) for 1h0m0s: payment-api is open")
		}
		return errors.New("boom")
	}))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 * n {
		<-done
	}
	srv.Shutdown()
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if info, err := insp.GetQueueInfo(queue); err == nil && info.Retry == 2*n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the tasks did not reach the retry set")
		}
	}
}

// TestSampleMatchesInspector: what Sample reads of tasks in the retry set
// is what asynq's own Inspector reports (retry budget, failures, last
// error, when it last failed), with only the headers asked for and never
// the payload.
func TestSampleMatchesInspector(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	retryTasks(t, rdb, "default", 3)
	samples, err := asynqdb.Sample(ctx, rdb, asynqdb.SampleRequest{Queues: []string{"default"},
		Sets: []string{asynqdb.StateRetry, asynqdb.StateScheduled}, N: 100, Headers: []string{"jobrunner-origin"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 2 || samples[0].Set != asynqdb.StateRetry || samples[0].Size != 6 || len(samples[0].Tasks) != 6 ||
		samples[1].Set != asynqdb.StateScheduled || samples[1].Size != 0 || len(samples[1].Tasks) != 0 {
		t.Fatalf("samples = %+v; want 6 retry tasks and no scheduled one", samples)
	}
	if dump := fmt.Sprintf("%+v", samples); strings.Contains(dump, secretPayload) || strings.Contains(dump, "header-secret") {
		t.Fatalf("the sample holds a payload or a header it was not asked for: %s", dump)
	}
	insp := asynq.NewInspectorFromRedisClient(rdb)
	for _, d := range samples[0].Tasks {
		info, err := insp.GetTaskInfo("default", d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Retry != info.MaxRetry || d.Retried != info.Retried || d.LastError != info.LastErr ||
			!d.LastFailedAt.Equal(info.LastFailedAt) || !d.Due.Equal(info.NextProcessAt) {
			t.Errorf("%s: Sample %+v; Inspector: max retry %d, retried %d, last error %q, failed at %v, next %v",
				d.ID, d, info.MaxRetry, info.Retried, info.LastErr, info.LastFailedAt, info.NextProcessAt)
		}
		wantOrigin := "origin-" + strings.Split(d.ID, "-")[0]
		if len(d.Headers) != 1 || d.Headers["jobrunner-origin"] != wantOrigin {
			t.Errorf("%s: headers %v; want only jobrunner-origin=%s", d.ID, d.Headers, wantOrigin)
		}
	}
}

// TestSampleBounded: Sample reads the n soonest-due tasks of a set larger
// than n (over several script calls), soonest first, with the set's size;
// a task deleted meanwhile is skipped.
func TestSampleBounded(t *testing.T) {
	t.Parallel()
	for _, topo := range redistest.Topologies()[:2] { // single, cluster: scripts pipelined across slots
		t.Run(topo.Name, func(t *testing.T) {
			env := topo.Start(t)
			ctx := context.Background()
			client := asynq.NewClientFromRedisClient(env.Client)
			base := time.Now().Add(time.Hour).Truncate(time.Second)
			for _, q := range []string{"a", "b"} {
				for i := range 250 {
					task := asynq.NewTask("t", []byte(secretPayload), asynq.Queue(q), asynq.TaskID(fmt.Sprintf("%s-%03d", q, i)),
						asynq.ProcessAt(base.Add(time.Duration(i)*time.Second)))
					if _, err := client.Enqueue(task); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := asynq.NewInspectorFromRedisClient(env.Client).DeleteTask("b", "b-001"); err != nil {
				t.Fatal(err)
			}
			samples, err := asynqdb.Sample(ctx, env.Client, asynqdb.SampleRequest{Queues: []string{"a", "b"}, Sets: []string{asynqdb.StateScheduled}, N: 120})
			if err != nil {
				t.Fatal(err)
			}
			if len(samples) != 2 {
				t.Fatalf("%d samples; want one per queue", len(samples))
			}
			for _, s := range samples {
				want := 250
				if s.Queue == "b" {
					want = 249
				}
				if s.Size != int64(want) || len(s.Tasks) != 120 {
					t.Fatalf("queue %s: size %d, %d tasks; want %d and 120", s.Queue, s.Size, len(s.Tasks), want)
				}
				for i, d := range s.Tasks {
					if i > 0 && d.Due.Before(s.Tasks[i-1].Due) {
						t.Fatalf("queue %s: task %d due before the one before it", s.Queue, i)
					}
					if d.ID == "b-001" {
						t.Fatal("a deleted task was sampled")
					}
				}
				if first := s.Tasks[0]; first.ID != s.Queue+"-000" || !first.Due.Equal(base) {
					t.Errorf("queue %s: first task %+v; want %s-000 due %v", s.Queue, first, s.Queue, base)
				}
			}
			// Read picks the tasks whose messages are read.
			samples, err = asynqdb.Sample(ctx, env.Client, asynqdb.SampleRequest{Queues: []string{"a"}, Sets: []string{asynqdb.StateScheduled}, N: 120,
				Read: func(set, id string) bool { return set == asynqdb.StateScheduled && strings.HasSuffix(id, "7") }})
			if err != nil || len(samples[0].Tasks) != 12 || samples[0].Looked != 120 || samples[0].Size != 250 {
				t.Fatalf("with Read: %+v, %v; want the 12 IDs ending in 7 of the 120 looked at", samples, err)
			}
		})
	}
}

// TestStates: States reads each task's state as the Inspector reports
// it, and "" for a task that does not exist.
func TestStates(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := srv.Client()
	client := asynq.NewClientFromRedisClient(rdb)
	if _, err := client.Enqueue(asynq.NewTask("t", nil, asynq.TaskID("p"))); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Enqueue(asynq.NewTask("t", nil, asynq.TaskID("s"), asynq.Queue("q"), asynq.ProcessIn(time.Hour))); err != nil {
		t.Fatal(err)
	}
	got, err := asynqdb.States(context.Background(), rdb, []asynqdb.TaskRef{{Queue: "default", ID: "p"}, {Queue: "q", ID: "s"}, {Queue: "q", ID: "none"}})
	if err != nil || len(got) != 3 || got[0] != asynq.TaskStatePending.String() || got[1] != asynq.TaskStateScheduled.String() || got[2] != "" {
		t.Fatalf("States = %q, %v; want pending, scheduled, \"\"", got, err)
	}
}
