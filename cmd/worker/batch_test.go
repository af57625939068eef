package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/batchdb"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
	"github.com/jobrunner/jobrunner/job"
)

// TestBatchSurvivesKilledWorkers: a batch enqueued by the enqueue binary
// (--file --on-complete batch.report) runs on worker processes that are
// SIGKILLed and drained (SIGTERM) mid-batch. The jobs the killed workers
// held come back through asynq's lease recovery (their leases made to look
// expired, as they would 60-120s after the kill, and a new worker started,
// whose recovery runs at once); some of them had completed and are skipped
// by their dedupe records, some run again. The callback is enqueued once
// and runs once, and when it runs every job of the batch is counted.
func TestBatchSurvivesKilledWorkers(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client()
	ctx := context.Background()
	env := []string{"WORKER_CONCURRENCY=3", "LOG_LEVEL=debug"} // debug: job.started, to know what a killed worker held
	workers := []*workertest.Worker{workertest.Start(t, srv, env), workertest.Start(t, srv, env)}

	const n = 90
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, `{"type":"demo.sleep","payload":{"ms":150,"dedupe":"job-%d"}}`+"\n", i)
	}
	in.WriteString(`{"type":"demo.sleep","payload":{"fail":"permanent"},"options":{"task_id":"doomed"}}` + "\n")
	file := filepath.Join(t.TempDir(), "jobs.jsonl")
	if err := os.WriteFile(file, []byte(in.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(workertest.Build(t, "./cmd/enqueue"), "--file", file,
		"--on-complete", "batch.report", "--on-complete-payload", `{"note":"killed"}`, "--output", "json")
	cmd.Env = append(os.Environ(), "REDIS_URL="+srv.URL())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("enqueue: %v\n%s", err, out)
	}
	var sum struct {
		Enqueued int    `json:"enqueued"`
		Batch    string `json:"batch"`
	}
	if err := json.Unmarshal(out, &sum); err != nil || sum.Enqueued != n+1 || sum.Batch == "" {
		t.Fatalf("enqueue printed %s (%v)", out, err)
	}
	id := sum.Batch
	status := func() job.BatchStatus {
		st, err := job.ReadBatch(ctx, rdb, id)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	waitDone := func(at int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for status().Done < at {
			if time.Now().After(deadline) {
				t.Fatalf("batch stuck at %+v", status())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	waitDone(n / 4)
	workers[0].Kill() // SIGKILL mid-jobs
	expireLeasesOf(t, rdb, workers[0])
	workers = append(workers, workertest.Start(t, srv, env)) // recovers the dead worker's jobs at start
	waitDone(n / 2)
	workers[1].Signal(syscall.SIGTERM) // a drain: unfinished jobs requeued
	if code := workers[1].Wait(60 * time.Second); code != 0 {
		t.Fatalf("drained worker exited %d", code)
	}
	waitDone(3 * n / 4)
	workers[2].Kill()
	expireLeasesOf(t, rdb, workers[2])
	workers = append(workers, workertest.Start(t, srv, env))

	var report workertest.Line
	deadline := time.Now().Add(90 * time.Second)
	// A task the killed workers had dequeued but not yet logged as started
	// (a kill in that window of milliseconds) is not in expireLeasesOf's
	// list; asynq's recovery finds it only 60-120s later. After a while,
	// expire the lease of every task the one live worker is not running,
	// and start a worker, whose lease recovery runs at start.
	orphans := time.Now().Add(15 * time.Second)
	for report == nil {
		if !orphans.IsZero() && time.Now().After(orphans) {
			if expireOrphans(t, rdb, id, workers[len(workers)-1]) > 0 {
				workers = append(workers, workertest.Start(t, srv, env))
			}
			orphans = time.Time{}
		}
		if time.Now().After(deadline) {
			t.Errorf("no callback; batch %+v", status())
			uncounted(t, rdb, id, workers)
			t.FailNow()
		}
		for _, w := range workers {
			if ls := w.Lines("batch.report"); len(ls) > 0 {
				report = ls[0]
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // room for a second callback, which must not come
	reports, finished := 0, 0
	for _, w := range workers {
		reports += len(w.Lines("batch.report"))
		finished += len(w.Lines("batch.finished"))
	}
	if reports != 1 || finished != 1 {
		t.Fatalf("batch.report logged %d times, batch.finished %d times; want once each", reports, finished)
	}
	if report.Int("total") != n+1 || report.Int("succeeded") != n || report.Int("archived") != 1 || report.Str("batch") != id {
		t.Fatalf("the callback saw %v; want every job counted: %d succeeded, 1 archived", report, n)
	}
	info, err := asynq.NewInspectorFromRedisClient(rdb).GetTaskInfo("default", batchdb.CallbackTaskID(id))
	if err != nil || info.State != asynq.TaskStateCompleted {
		t.Fatalf("callback task: %v, %v", info, err)
	}
	st := status()
	if st.Done != n+1 || st.Succeeded != n || st.Archived != 1 || len(st.ArchivedIDs) != 1 || st.ArchivedIDs[0] != "doomed" {
		t.Fatalf("status %+v", st)
	}
	started, recovered := 0, 0
	for _, w := range workers {
		started += len(w.Lines("job.started"))
		for _, l := range w.Lines("job.skipped") {
			if l.Str("reason") == "duplicate_done" {
				recovered++
			}
		}
	}
	t.Logf("%d attempts started for %d jobs and a callback; %d recovered jobs skipped as done", started, n+1, recovered)
	for _, w := range workers[3:] {
		w.Stop(30 * time.Second)
	}
}

// expireLeasesOf makes the asynq leases of the tasks dead, a SIGKILLed
// worker, was running look expired a minute ago, as asynq's lease recovery
// would find them 60-120s after the kill.
func expireLeasesOf(t *testing.T, rdb *redis.Client, dead *workertest.Worker) {
	t.Helper()
	<-dead.Done()
	held := running(dead)
	for id := range held {
		expireLease(t, rdb, id)
	}
	t.Logf("%d jobs were running on the killed worker", len(held))
}

// expireOrphans makes the asynq leases of the active tasks of batch id's
// members not counted yet that live, the only worker running, is not
// running look expired a minute ago, so that the next lease recovery
// requeues them, and returns how many. The callback is never one of them.
func expireOrphans(t *testing.T, rdb *redis.Client, id string, live *workertest.Worker) (expired int) {
	t.Helper()
	ctx := context.Background()
	members, err := rdb.HGetAll(ctx, batchdb.MembersKey(id)).Result()
	if err != nil {
		t.Fatal(err)
	}
	active, err := rdb.ZRange(ctx, asynqdb.LeaseKey("default"), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	busy := running(live)
	for _, task := range active {
		if busy[task] || members[task] != "0" {
			continue
		}
		expireLease(t, rdb, task)
		t.Logf("task %s was active on no live worker: lease expired", task)
		expired++
	}
	return expired
}

// running returns the IDs of the tasks w logged as started and not as
// ended (per attempt).
func running(w *workertest.Worker) map[string]bool {
	ended := map[string]bool{}
	for _, ev := range []string{"job.done", "job.failed", "job.skipped", "job.deferred"} {
		for _, l := range w.Lines(ev) {
			ended[l.Str("task_id")+"/"+fmt.Sprint(l.Int("attempt"))] = true
		}
	}
	ids := map[string]bool{}
	for _, l := range w.Lines("job.started") {
		if !ended[l.Str("task_id")+"/"+fmt.Sprint(l.Int("attempt"))] {
			ids[l.Str("task_id")] = true
		}
	}
	return ids
}

// expireLease makes task's asynq lease look expired a minute ago.
func expireLease(t *testing.T, rdb *redis.Client, task string) {
	t.Helper()
	old := float64(time.Now().Add(-time.Minute).Unix())
	if err := rdb.ZAddXX(context.Background(), asynqdb.LeaseKey("default"), redis.Z{Score: old, Member: task}).Err(); err != nil {
		t.Fatal(err)
	}
}

// uncounted logs, for a batch stuck short of its callback, each member not
// counted yet: its task's state in asynq and every worker log line naming
// it, so that a failure says where the job went.
func uncounted(t *testing.T, rdb *redis.Client, id string, workers []*workertest.Worker) {
	t.Helper()
	members, err := rdb.HGetAll(context.Background(), batchdb.MembersKey(id)).Result()
	if err != nil {
		t.Logf("members: %v", err)
		return
	}
	ins := asynq.NewInspectorFromRedisClient(rdb)
	for m, state := range members {
		if state != "0" {
			continue
		}
		info, err := ins.GetTaskInfo("default", m)
		if err != nil {
			t.Logf("member %s not counted; asynq: %v", m, err)
		} else {
			t.Logf("member %s not counted; asynq: state %v, retried %d, next %v, last error %q", m, info.State, info.Retried, info.NextProcessAt, info.LastErr)
		}
		for i, w := range workers {
			for _, line := range strings.Split(w.Raw(), "\n") {
				if strings.Contains(line, m) {
					t.Logf("worker %d: %s", i, line)
				}
			}
		}
	}
}
