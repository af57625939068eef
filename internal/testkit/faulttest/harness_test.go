package faulttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

// env is one test's world: the worker's Redis (the one faults hit), an
// optional proxy in front of it, and the ledger on a Redis of its own.
type env struct {
	t         *testing.T
	redis     *redistest.Server
	proxy     *Proxy
	ledger    *Ledger
	ledgerSrv *redistest.Server
	admin     *redis.Client // direct to the worker's Redis: enqueue, inspect
	client    *asynq.Client
	inspector *asynq.Inspector
}

type envOptions struct {
	AOF   bool // the worker's Redis persists with appendfsync always
	Proxy bool // workers reach Redis through a toxiproxy
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	srv := redistest.StartWith(t, redistest.Options{AOF: o.AOF})
	if srv.Embedded {
		t.Skip("faulttest needs redis-server (kill, restart, AOF); set JOBRUNNER_REQUIRE_REDIS=1 to make this a failure")
	}
	ledgerSrv := redistest.Start(t)
	e := &env{t: t, redis: srv, ledger: NewLedger(ledgerSrv.Client(), ""), ledgerSrv: ledgerSrv}
	e.admin = redis.NewClient(RedisOptions(srv.Addr))
	t.Cleanup(func() { _ = e.admin.Close() })
	e.resetClients()
	if o.Proxy {
		e.proxy = StartProxy(t, srv.Addr)
	}
	return e
}

// resetClients replaces the asynq client and inspector: after Redis lost
// its data they must be new, because an asynq client registers a queue in
// asynq:queues only on its first enqueue to it, and the inspector sees no
// queue that is not registered.
func (e *env) resetClients() {
	e.client = asynq.NewClientFromRedisClient(e.admin)
	e.inspector = asynq.NewInspectorFromRedisClient(e.admin)
}

// workerAddr is where workers connect: the proxy if any, else Redis.
func (e *env) workerAddr() string {
	if e.proxy != nil {
		return e.proxy.Addr
	}
	return e.redis.Addr
}

// inProc is a runner started in this process.
type inProc struct {
	*runner.Runner
	logs *logBuffer
}

// runnerOpts change an in-process worker.
type runnerOpts struct {
	config func(*WorkerConfig) // changes the configuration
	specs  []job.Spec          // more job types
}

// startRunner starts an in-process worker named proc and drains it when
// the test ends.
func (e *env) startRunner(proc string, concurrency int, opts ...runnerOpts) *inProc {
	e.t.Helper()
	rdb := redis.NewClient(RedisOptions(e.workerAddr()))
	logs := &logBuffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel).With().Str("proc", proc).Logger()
	cfg := WorkerConfig{Redis: rdb, Ledger: e.ledger, Proc: proc, Concurrency: concurrency, Logger: &log}
	for _, o := range opts {
		if o.config != nil {
			o.config(&cfg)
		}
	}
	r, err := NewWorker(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, o := range opts {
		if err := r.Register(o.specs...); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := r.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
		_ = rdb.Close()
		if e.t.Failed() {
			e.t.Logf("%s log (tail):\n%s", proc, tail(logs.String(), 16<<10))
		}
	})
	return &inProc{Runner: r, logs: logs}
}

// get serves path from the runner's operations handler.
func (p *inProc) get(path string) int {
	rec := httptest.NewRecorder()
	p.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code
}

// enqueue enqueues a fault.work job with task ID p.ID and a retention, so
// that completed tasks stay visible. An error is retried with the same ID
// until the enqueue succeeds or conflicts (an earlier try went through):
// after it returns the job is in Redis exactly once.
func (e *env) enqueue(p WorkPayload, opts ...asynq.Option) {
	e.t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		e.t.Fatal(err)
	}
	e.enqueueRaw(WorkType, p.ID, b, opts...)
}

func (e *env) enqueueRaw(typ, id string, payload []byte, opts ...asynq.Option) {
	e.t.Helper()
	opts = append([]asynq.Option{asynq.TaskID(id), asynq.Retention(time.Hour), asynq.MaxRetry(10)}, opts...)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := e.client.Enqueue(asynq.NewTask(typ, payload), opts...)
		if err == nil || errors.Is(err, asynq.ErrTaskIDConflict) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("enqueue %s: %v", id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// queueState is the default queue's task counts.
type queueState struct {
	Pending, Active, Scheduled, Retry, Archived, Completed int
}

func (q queueState) inQueue() int { return q.Pending + q.Active + q.Scheduled + q.Retry }

func (e *env) queue() (queueState, error) {
	info, err := e.inspector.GetQueueInfo("default")
	if err != nil {
		return queueState{}, err
	}
	return queueState{info.Pending, info.Active, info.Scheduled, info.Retry, info.Archived, info.Completed}, nil
}

// settle waits until no task of the default queue is waiting or running.
func (e *env) settle(timeout time.Duration) queueState {
	e.t.Helper()
	var q queueState
	var err error
	waitFor(e.t, timeout, "the queue to settle", func() bool {
		q, err = e.queue()
		return err == nil && q.inQueue() == 0
	}, func() string {
		return fmt.Sprintf("%+v (err %v); active: %v\nthe runners' goroutines in a job:\n%s", q, err, e.activeIDs(), jobGoroutines())
	})
	return q
}

// jobGoroutines returns the stacks of this process's goroutines that run a
// job (processTask), for a settle that timed out with jobs still active.
func jobGoroutines() string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "processTask") || strings.Contains(g, "(*pool).worker") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

func (e *env) activeIDs() []string {
	tasks, _ := e.inspector.ListActiveTasks("default")
	var ids []string
	for _, t := range tasks {
		ids = append(ids, t.ID)
	}
	return ids
}

// waitFor polls cond until it holds or fails the test after timeout; why,
// if given, describes the state at the failure.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool, why ...func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			if len(why) > 0 {
				msg = ": " + why[0]()
			}
			t.Fatalf("timed out after %v waiting for %s%s", timeout, what, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// events returns the ledger's events.
func (e *env) events() []Event {
	e.t.Helper()
	evs, err := e.ledger.Events(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// counts returns a ledger hash.
func (e *env) counts(f func(*Ledger, context.Context) (map[string]int, error)) map[string]int {
	e.t.Helper()
	m, err := f(e.ledger, context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// checkExclusive fails the test on overlapping runs, stale fences, or runs
// that asked for a lock and ran without a fence.
func (e *env) checkExclusive() {
	e.t.Helper()
	evs := e.events()
	for i, o := range Overlaps(evs) {
		if i == 10 {
			e.t.Errorf("... and more overlaps")
			break
		}
		e.t.Errorf("overlap: %v", o)
	}
	for _, ev := range evs {
		if ev.Kind == "begin" && ev.Lock != "" && ev.Fence <= 0 {
			e.t.Errorf("job %s (run %s) asked for lock %q and ran without its lock (fence %d)", ev.ID, ev.Run, ev.Lock, ev.Fence)
		}
	}
	stale, err := e.ledger.Stale(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ev := range stale {
		e.t.Errorf("stale fence: job %s run %s lock %q fence %d (%s)", ev.ID, ev.Run, ev.Lock, ev.Fence, ev.Kind)
	}
}

// runsOf returns the end events of job id.
func runsOf(evs []Event, id string) []Event {
	var out []Event
	for _, ev := range evs {
		if ev.Kind == "end" && ev.ID == id {
			out = append(out, ev)
		}
	}
	return out
}

// logBuffer collects JSON log lines safely.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// events returns the parsed lines whose event is ev.
func (l *logBuffer) events(ev string) []Line {
	var out []Line
	for line := range strings.SplitSeq(l.String(), "\n") {
		var m Line
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m.Str("event") == ev {
			out = append(out, m)
		}
	}
	return out
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
