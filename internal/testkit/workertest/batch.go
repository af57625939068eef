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

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
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
	// Dependency, if set, is every job's dependency (demo.sleep's
	// "dependency"), for a limit set through WorkerEnv.
	Dependency string
	// Workers and Concurrency: worker processes and WORKER_CONCURRENCY of
	// each. Default to 2 and 8.
	Workers, Concurrency int
	// WorkerEnv is added to every worker's environment.
	WorkerEnv []string
	// Fault, if set, is called once, when a third of the jobs are done,
	// with the running workers; it returns when the fault is over (for
	// example after the failover).
	Fault func(ws []*Worker)
	// Quiet is how long no task may complete or be skipped, once every
	// job has completed and nothing is pending, before the run counts as
	// over; a run where jobs are missing ends after 5 times Quiet without
	// progress. Defaults to 2s.
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
	// TasksLeft are the task IDs still in the queue at the end whose job
	// completed through another task or an earlier attempt: typically a
	// task whose completion the failover swallowed, left active until
	// asynq's lease recovery, which finds the completed record and skips it.
	TasksLeft []string
	// Rerun are the dedupe keys of completed jobs that will run a second
	// time: a task of theirs is left active (its completion was lost) and
	// so is the completed record, so lease recovery runs it again. They are
	// not in Doubled, which counts what the run saw.
	Rerun []string
	// Failed counts job.failed lines (attempts that failed, retried
	// later); Deferred counts job.deferred lines by reason.
	Failed   int
	Deferred map[string]int
	// Archived counts tasks in the archive at the end.
	Archived int
	// Elapsed is from the first worker's start to the end of the run.
	Elapsed time.Duration
}

// String is a one-line summary for a test log.
func (r BatchResult) String() string {
	return fmt.Sprintf("%d jobs (%d tasks): %d exactly once, %d doubled, %d lost, %d waiting for lease recovery or queued, %d duplicates skipped, %d tasks lost, %d tasks left in the queue (%d jobs of them to run again), %d failed attempts, deferrals %v, %d archived, in %v",
		r.Jobs, r.Tasks, r.Once, len(r.Doubled), len(r.Lost), len(r.Waiting), r.Skipped, len(r.TasksLost), len(r.TasksLeft), len(r.Rerun), r.Failed, r.Deferred, r.Archived, r.Elapsed.Round(time.Millisecond))
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
			dep := ""
			if cfg.Dependency != "" {
				dep = fmt.Sprintf(`,"dependency":%q`, cfg.Dependency)
			}
			fmt.Fprintf(&jsonl, `{"type":"demo.sleep","payload":{"ms":%d,"dedupe":%q,"lock":"lock-%d"%s},"options":{"task_id":%q}}`+"\n",
				cfg.SleepMS, key, i%cfg.Locks, dep, id)
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

	// Settled: every job done and no progress for Quiet, or no progress
	// for 5 Quiets (jobs lost, or waiting for lease recovery); the
	// duplicates of a job whose in-flight marker outlived a failover may
	// keep deferring meanwhile.
	insp := asynq.NewInspectorFromRedisClient(env.Client)
	progress, since := -1, time.Now()
	for {
		n := 0 // the batch's tasks that ended (a schedule's ticks may run beside them)
		for _, w := range ws {
			for _, l := range append(w.Lines("job.done"), w.Lines("job.skipped")...) {
				if _, ok := keyOf[l.Str("task_id")]; ok {
					n++
				}
			}
		}
		q, err := insp.GetQueueInfo("default")
		if n != progress || err != nil || q.Pending > 0 {
			progress, since = n, time.Now()
		}
		if err == nil && q.Pending+q.Scheduled+q.Retry+q.Active == 0 && countDone(ws) >= cfg.Jobs {
			break
		}
		if quiet := time.Since(since); quiet >= 5*cfg.Quiet || quiet >= cfg.Quiet && countKeysDone(ws, cfg.Jobs) {
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
	if l := ws[0].Lines("redis.connecting"); len(env.Passwords) > 0 && (len(l) != 1 || !strings.Contains(l[0].Str("url"), "xxxxx")) {
		tb.Errorf("workertest: redis.connecting = %v, want the URL with its passwords as xxxxx", l)
	}
	for _, p := range env.Passwords { // REDIS_URL's passwords are redacted everywhere
		for _, w := range ws {
			if strings.Contains(w.Raw()+w.Stderr(), p) {
				tb.Errorf("workertest: a worker printed a password of REDIS_URL (%q)", p)
			}
		}
		if strings.Contains(string(out), p) {
			tb.Errorf("workertest: enqueue --wait printed a password of REDIS_URL (%q)", p)
		}
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
		res.Failed += len(w.Lines("job.failed"))
		for _, l := range w.Lines("job.deferred") {
			if res.Deferred == nil {
				res.Deferred = map[string]int{}
			}
			res.Deferred[l.Str("reason")]++
		}
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
		switch {
		case !ended[id] && !queued[id]:
			res.TasksLost = append(res.TasksLost, id)
		case queued[id] && done[keyOf[id]] > 0:
			res.TasksLeft = append(res.TasksLeft, id)
			if !recorded(env, "demo.sleep:"+keyOf[id]) && !slices.Contains(res.Rerun, keyOf[id]) {
				res.Rerun = append(res.Rerun, keyOf[id])
			}
		}
	}
	slices.Sort(res.Doubled)
	slices.Sort(res.TasksLost)
	slices.Sort(res.TasksLeft)
	slices.Sort(res.Rerun)
	return res
}

// countKeysDone reports whether job.done was logged for a task of each of
// the jobs (task IDs t<i> and t<i>-dup).
func countKeysDone(ws []*Worker, jobs int) bool {
	seen := map[string]bool{}
	for _, w := range ws {
		for _, l := range w.Lines("job.done") {
			if id := l.Str("task_id"); strings.HasPrefix(id, "t") { // not a schedule's tick
				seen[strings.TrimSuffix(id, "-dup")] = true
			}
		}
	}
	return len(seen) >= jobs
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

// recorded reports whether the layers hold a completed record for the
// dedupe key (job type, ':', key), in its state key or in a bucket.
func recorded(env *redistest.Env, dedupeKey string) bool {
	ok, err := lockcore.NewRedisStore(env.Client, lockcore.RedisConfig{}).Recorded(context.Background(), dedupeKey)
	return ok || err != nil // unknown: do not report a rerun
}
