package workertest

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/redistest"
)

// BatchConfig configures RunBatch. Zero fields take the defaults named.
type BatchConfig struct {
	// Env is the Redis to run on. Required.
	Env *redistest.Env
	// Jobs is how many distinct jobs run, each demo.sleep with its own
	// dedupe key and one of Locks lock keys. Every fourth is enqueued a
	// second time under another task ID with the same dedupe key, which
	// must be skipped, never run. Defaults to 200.
	Jobs int
	// Locks is how many lock keys the jobs share round-robin, so that
	// jobs contend for them. Defaults to 8.
	Locks int
	// SleepMS is each job's sleep. Defaults to 2.
	SleepMS int
	// Workers and Concurrency: worker processes and WORKER_CONCURRENCY of
	// each. Default to 2 and 8.
	Workers, Concurrency int
	// WorkerEnv is added to every worker's environment.
	WorkerEnv []string
	// Fault, if set, is called once, when a third of the jobs are done,
	// with the running workers; it returns when the fault is over (for
	// example after the failover).
	Fault func(ws []*Worker)
	// Quiet is how long the queue must stay without pending, scheduled or
	// retrying tasks and the workers without a new job line before the run
	// counts as over. Defaults to 2s.
	Quiet time.Duration
	// Timeout bounds the run. Defaults to 60s.
	Timeout time.Duration
}

// BatchResult is what RunBatch saw, from the workers' logs (job.done,
// job.skipped lines) and asynq's Inspector at the end.
type BatchResult struct {
	// Jobs and Tasks are the distinct jobs and the tasks enqueued for
	// them (duplicates included).
	Jobs, Tasks int
	// Once is how many jobs completed exactly once.
	Once int
	// Doubled are the dedupe keys whose job completed more than once.
	Doubled []string
	// Lost are the dedupe keys whose job never completed while none of
	// its tasks is left in the queue to run it.
	Lost []string
	// Waiting are the dedupe keys whose job has not completed but a task
	// is still active (asynq's lease recovery, one to two minutes after a
	// lost acknowledgement, runs it again) or queued at the end.
	Waiting []string
	// Skipped counts job.skipped lines (duplicates finding the completed
	// record).
	Skipped int
	// TasksLost are the task IDs that no worker logged as done or
	// skipped and that are not in the queue at the end: a task whose job
	// completed through its other task is counted here, not in Lost.
	TasksLost []string
	// Archived counts tasks in the archive at the end.
	Archived int
	// Elapsed is from the first worker's start to the end of the run.
	Elapsed time.Duration
}

// String is a one-line summary for a test log.
func (r BatchResult) String() string {
	return fmt.Sprintf("%d jobs (%d tasks): %d exactly once, %d doubled, %d lost, %d waiting for lease recovery or queued, %d duplicates skipped, %d tasks lost, %d archived, in %v",
		r.Jobs, r.Tasks, r.Once, len(r.Doubled), len(r.Lost), len(r.Waiting), r.Skipped, len(r.TasksLost), r.Archived, r.Elapsed.Round(time.Millisecond))
}

// RequireExactlyOnce fails tb unless every job completed exactly once and
// nothing was archived.
func (r BatchResult) RequireExactlyOnce(tb testing.TB) {
	tb.Helper()
	if r.Once != r.Jobs || r.Archived != 0 {
		tb.Fatalf("want every job exactly once and none archived: %v (doubled %v, lost %v, waiting %v)",
			r, head(r.Doubled), head(r.Lost), head(r.Waiting))
	}
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// RunBatch enqueues cfg.Jobs demo.sleep jobs with dedupe keys and locks
// through the cmd/enqueue binary (--file, one bulk run), runs them on
// cfg.Workers cmd/worker processes, injects cfg.Fault once a third are
// done, and waits until the queue is quiet. Then it checks --wait through
// cmd/enqueue on one more job and stops the workers (SIGTERM). The
// workers' logs are the ledger: a job "completed" when a worker logged
// job.done for one of its tasks.
func RunBatch(tb testing.TB, cfg BatchConfig) BatchResult {
	tb.Helper()
	if cfg.Env == nil {
		tb.Fatal("workertest: BatchConfig.Env is nil")
	}
	cfg.Jobs = cmp.Or(cfg.Jobs, 200)
	cfg.Locks = cmp.Or(cfg.Locks, 8)
	cfg.SleepMS = cmp.Or(cfg.SleepMS, 2)
	cfg.Workers = cmp.Or(cfg.Workers, 2)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, 8)
	cfg.Quiet = cmp.Or(cfg.Quiet, 2*time.Second)
	cfg.Timeout = cmp.Or(cfg.Timeout, 60*time.Second)
	env := cfg.Env
	res := BatchResult{Jobs: cfg.Jobs}

	// The jobs, as cmd/enqueue --file reads them.
	var jsonl bytes.Buffer
	keyOf := map[string]string{} // task ID -> dedupe key
	for i := range cfg.Jobs {
		key := "job-" + strconv.Itoa(i)
		ids := []string{"t" + strconv.Itoa(i)}
		if i%4 == 0 {
			ids = append(ids, ids[0]+"-dup")
		}
		for _, id := range ids {
			fmt.Fprintf(&jsonl, `{"type":"demo.sleep","payload":{"ms":%d,"dedupe":%q,"lock":"lock-%d"},"options":{"task_id":%q}}`+"\n",
				cfg.SleepMS, key, i%cfg.Locks, id)
			keyOf[id] = key
		}
	}
	res.Tasks = len(keyOf)
	file := filepath.Join(tb.TempDir(), "jobs.jsonl")
	if err := os.WriteFile(file, jsonl.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
	if out, err := enqueueCmd(tb, env.URL, "--file", file).CombinedOutput(); err != nil {
		tb.Fatalf("enqueue --file: %v\n%s", err, out)
	}

	start := time.Now()
	bin := Binary(tb)
	ws := make([]*Worker, cfg.Workers)
	for i := range ws {
		ws[i] = Run(tb, bin, nil, append([]string{"REDIS_URL=" + env.URL, "LOG_LEVEL=info",
			"WORKER_POLL_INTERVAL=20ms", "WORKER_CONCURRENCY=" + strconv.Itoa(cfg.Concurrency)}, cfg.WorkerEnv...))
	}
	for _, w := range ws {
		w.WaitEvent("worker.started", 30*time.Second)
	}
	deadline := start.Add(cfg.Timeout)
	if cfg.Fault != nil {
		for countDone(ws) < cfg.Jobs/3 {
			if time.Now().After(deadline) {
				tb.Fatalf("workertest: %d of %d jobs done before the fault was due", countDone(ws), cfg.Jobs)
			}
			time.Sleep(10 * time.Millisecond)
		}
		cfg.Fault(ws)
	}

	// Quiet: nothing queued but maybe active, and no new job line.
	insp := asynq.NewInspectorFromRedisClient(env.Client)
	lines, quietSince := -1, time.Now()
	for {
		n := 0
		for _, w := range ws {
			n += len(w.Lines(""))
		}
		q, err := insp.GetQueueInfo("default")
		busy := err != nil || q.Pending+q.Scheduled+q.Retry > 0
		if n != lines || busy {
			lines, quietSince = n, time.Now()
		}
		if err == nil && q.Pending+q.Scheduled+q.Retry+q.Active == 0 && countDone(ws) >= cfg.Jobs {
			break
		}
		if time.Since(quietSince) >= cfg.Quiet {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("workertest: the run did not settle within %v: %+v (%v); %d jobs done", cfg.Timeout, q, err, countDone(ws))
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.Elapsed = time.Since(start)

	// --wait through the binary, on the same topology.
	out, err := enqueueCmd(tb, env.URL, "--wait", "--wait-timeout", "20s", "demo.sleep", `{"ms":1,"dedupe":"waited","lock":"lock-0"}`).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "completed ") {
		tb.Errorf("enqueue --wait: %v\n%s", err, out)
	}
	for _, w := range ws {
		w.Stop(20 * time.Second)
	}

	done := map[string]int{}
	ended := map[string]bool{} // task IDs logged done or skipped
	for _, w := range ws {
		for _, l := range w.Lines("job.done") {
			if k, ok := keyOf[l.Str("task_id")]; ok {
				done[k]++
			}
			ended[l.Str("task_id")] = true
		}
		for _, l := range w.Lines("job.skipped") {
			ended[l.Str("task_id")] = true
		}
		res.Skipped += len(w.Lines("job.skipped"))
	}
	left := map[string]bool{}   // dedupe keys with a task still in the queue
	queued := map[string]bool{} // task IDs still in the queue
	for _, state := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		insp.ListActiveTasks, insp.ListPendingTasks, insp.ListScheduledTasks, insp.ListRetryTasks,
	} {
		tasks, err := state("default", asynq.PageSize(cfg.Jobs*2))
		if err != nil {
			tb.Fatalf("workertest: list tasks: %v", err)
		}
		for _, ti := range tasks {
			left[keyOf[ti.ID]] = true
			queued[ti.ID] = true
		}
	}
	archived, err := insp.ListArchivedTasks("default", asynq.PageSize(cfg.Jobs*2))
	if err != nil && !strings.Contains(err.Error(), "not found") {
		tb.Fatalf("workertest: list archived tasks: %v", err)
	}
	res.Archived = len(archived)
	for i := range cfg.Jobs {
		key := "job-" + strconv.Itoa(i)
		switch n := done[key]; {
		case n == 1:
			res.Once++
		case n > 1:
			res.Doubled = append(res.Doubled, key)
		case left[key]:
			res.Waiting = append(res.Waiting, key)
		default:
			res.Lost = append(res.Lost, key)
		}
	}
	for id := range keyOf {
		if !ended[id] && !queued[id] {
			res.TasksLost = append(res.TasksLost, id)
		}
	}
	slices.Sort(res.Doubled)
	slices.Sort(res.TasksLost)
	return res
}

// countDone counts job.done lines across ws.
func countDone(ws []*Worker) int {
	n := 0
	for _, w := range ws {
		n += len(w.Lines("job.done"))
	}
	return n
}

// enqueueCmd returns a cmd/enqueue command on url with args.
func enqueueCmd(tb testing.TB, url string, args ...string) *exec.Cmd {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, Build(tb, "./cmd/enqueue"), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "REDIS_URL=" + url, "GORACE=atexit_sleep_ms=0"}
	return cmd
}
