package runner_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
)

type greet struct {
	Name string `json:"name"`
}

func (g greet) Validate() error {
	if g.Name == "" {
		return job.FieldError("name", "is required")
	}
	return nil
}

// recorder is a handler that remembers what it ran.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (rc *recorder) handle(_ context.Context, g greet) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.seen = append(rc.seen, g.Name)
	return nil
}

func (rc *recorder) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.seen)
}

func TestRegistrationAndRouting(t *testing.T) {
	r, b := harness(t, runner.Config{Queues: map[string]int{"default": 1, "critical": 2}})
	var hello, bye recorder
	helloDef := &job.Definition[greet]{Type: "greet.hello", Handle: hello.handle}
	byeDef := &job.Definition[greet]{Type: "greet.bye", Queue: "critical", Handle: bye.handle}
	if err := r.Register(helloDef, byeDef); err != nil {
		t.Fatal(err)
	}
	if err := r.Register(&job.Definition[greet]{Type: "greet.hello", Handle: hello.handle}); err == nil {
		t.Fatal("registering a type twice succeeded")
	}
	start(t, r)
	if err := r.Register(&job.Definition[greet]{Type: "late", Handle: hello.handle}); err == nil {
		t.Fatal("Register after Start succeeded")
	}
	ctx := context.Background()
	if _, err := helloDef.Enqueue(ctx, b.client, greet{Name: "ada"}); err != nil {
		t.Fatal(err)
	}
	info, err := byeDef.Enqueue(ctx, b.client, greet{Name: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if info.Queue != "critical" {
		t.Fatalf("bye enqueued on %q, want critical", info.Queue)
	}
	// A plain asynq client with no options at all, as the asynq CLI would.
	if _, err := b.client.Enqueue(asynq.NewTask("greet.hello", []byte(`{"name":"plain"}`))); err != nil {
		t.Fatal(err)
	}
	// The typed helper refuses an invalid payload before Redis.
	if _, err := helloDef.Enqueue(ctx, b.client, greet{}); err == nil || !strings.Contains(err.Error(), `field "name"`) {
		t.Fatalf("Enqueue(invalid) = %v", err)
	}
	waitFor(t, 10*time.Second, "3 jobs", func() bool { return hello.count() == 2 && bye.count() == 1 })
	if got := strings.Join(hello.seen, ","); got != "ada,plain" && got != "plain,ada" {
		t.Fatalf("hello ran %q", got)
	}
	if n, _ := b.inspector.GetQueueInfo("default"); n.Pending != 0 {
		t.Fatalf("pending = %d", n.Pending)
	}
}

func TestInvalidPayloadArchivedAtOnce(t *testing.T) {
	r, b := harness(t, runner.Config{})
	var rc recorder
	if err := r.Register(&job.Definition[greet]{Type: "greet.hello", Handle: rc.handle}); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	bad := []struct{ id, payload, want string }{
		{"unknown-field", `{"name":"x","nmae":"y"}`, `field "nmae": unknown field`},
		{"wrong-type", `{"name":5}`, `field "name": want string`},
		{"invalid", `{"name":""}`, `field "name": is required`},
		{"not-json", `{"name":`, `not valid JSON`},
	}
	for _, tc := range bad {
		if _, err := b.client.Enqueue(asynq.NewTask("greet.hello", []byte(tc.payload)), asynq.TaskID(tc.id), asynq.MaxRetry(10)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.client.Enqueue(asynq.NewTask("greet.hello", []byte(`{"name":"after"}`))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "archived", func() bool {
		q, err := b.inspector.GetQueueInfo("default")
		return err == nil && q.Archived == len(bad) && rc.count() == 1
	})
	for _, tc := range bad {
		info := taskInfo(t, b, "default", tc.id)
		if info.State != asynq.TaskStateArchived || info.Retried != 0 {
			t.Errorf("%s: state %v retried %d, want archived after one attempt", tc.id, info.State, info.Retried)
		}
		if !strings.Contains(info.LastErr, tc.want) || !strings.Contains(info.LastErr, "job greet.hello: invalid payload") {
			t.Errorf("%s: LastErr = %q, want it to contain %q", tc.id, info.LastErr, tc.want)
		}
	}
	for _, l := range b.logs.Events("job.failed") {
		if l["reason"] != "invalid_payload" || l["final"] != true {
			t.Errorf("failed line = %v", l)
		}
	}
}

func TestLogLineShape(t *testing.T) {
	r, b := harness(t, runner.Config{})
	var calls atomic.Int32
	err := r.Register(&job.Definition[greet]{Type: "flaky", MaxRetry: 1, Handle: func(context.Context, greet) error {
		if calls.Add(1) == 1 {
			return errors.New("boom")
		}
		return nil
	}, Backoff: func(int, error) time.Duration { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	info, err := b.client.Enqueue(asynq.NewTask("flaky", []byte(`{"name":"a"}`)), asynq.MaxRetry(1))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "job.done", func() bool { return len(b.logs.Events("job.done")) == 1 })

	started, failed, done := b.logs.Events("job.started"), b.logs.Events("job.failed"), b.logs.Events("job.done")
	if len(started) != 2 || len(failed) != 1 {
		t.Fatalf("started %d failed %d, want 2 and 1", len(started), len(failed))
	}
	for i, l := range []map[string]any{failed[0], done[0]} {
		for _, k := range []string{"task_id", "type", "queue", "attempt", "duration_ms"} {
			if _, ok := l[k]; !ok {
				t.Errorf("line %v lacks %s", l, k)
			}
		}
		if l["task_id"] != info.ID || l["type"] != "flaky" || l["queue"] != "default" || l["attempt"] != float64(i+1) {
			t.Errorf("line %d = %v", i, l)
		}
	}
	if failed[0]["error"] != "boom" || failed[0]["final"] != false || failed[0]["level"] != "warn" {
		t.Errorf("failed line = %v", failed[0])
	}
	if started[0]["level"] != "debug" {
		t.Errorf("job.started logged at %v, want debug", started[0]["level"])
	}
}

func TestPanicFailsTheAttempt(t *testing.T) {
	r, b := harness(t, runner.Config{})
	err := r.Register(&job.Definition[greet]{Type: "panics", Handle: func(context.Context, greet) error { panic("kaboom") }})
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	if _, err := b.client.Enqueue(asynq.NewTask("panics", []byte(`{"name":"a"}`)), asynq.MaxRetry(0), asynq.TaskID("p")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the failure", func() bool { return len(b.logs.Events("job.failed")) == 1 })
	l := b.logs.Events("job.failed")[0]
	if l["reason"] != "panic" || l["final"] != true || !strings.Contains(fmt.Sprint(l["stack"]), "runner_test.go") {
		t.Fatalf("failed line = %v", l)
	}
	waitFor(t, 5*time.Second, "archived", func() bool { return taskInfo(t, b, "default", "p").State == asynq.TaskStateArchived })
}

func TestReadyzFollowsRedis(t *testing.T) {
	r, b := harness(t, runner.Config{})
	ops := httptest.NewServer(r.Handler())
	defer ops.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(ops.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body))
	}
	if code, body := get("/readyz"); code != 503 || body != "starting" {
		t.Fatalf("before Start: %d %q", code, body)
	}
	start(t, r)
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz = %d", code)
	}
	b.redis.Kill()
	killed := time.Now()
	var code int
	var body string
	for time.Since(killed) < time.Second { // the health loop pings every 200ms
		if code, body = get("/readyz"); code == 503 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != 503 || !strings.HasPrefix(body, "redis unreachable") || strings.Contains(body, "\n") {
		t.Fatalf("redis down for %v: %d %q", time.Since(killed), code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz with redis down = %d, want 200 (liveness must not follow Redis)", code)
	}
	b.redis.Restart()
	waitFor(t, 10*time.Second, "ready again", func() bool { code, _ := get("/readyz"); return code == 200 })
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "jobrunner_jobs_in_flight") {
		t.Fatalf("metrics: %d", code)
	}
}

// snoozer defers each task a fixed number of times, then succeeds.
type snoozer struct {
	mu    sync.Mutex
	runs  map[string]int
	times int
	done  map[string]bool
}

func (s *snoozer) handle(ctx context.Context, g greet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs[g.Name]++
	if s.runs[g.Name] <= s.times {
		return job.Defer("test_snooze", 50*time.Millisecond, nil)
	}
	s.done[g.Name] = true
	return nil
}

func TestDeferralNeverArchivesOrCountsAttempts(t *testing.T) {
	r, b := harness(t, runner.Config{})
	s := &snoozer{runs: map[string]int{}, done: map[string]bool{}, times: 3}
	if err := r.Register(&job.Definition[greet]{Type: "snooze", Handle: s.handle}); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	// max retry 0 and the last attempt are the cases asynq would archive.
	cases := map[string][]asynq.Option{
		"max0": {asynq.MaxRetry(0)},
		"max2": {asynq.MaxRetry(2)},
		"max5": {asynq.MaxRetry(5)},
	}
	for name, opts := range cases {
		opts = append(opts, asynq.TaskID(name))
		if _, err := b.client.Enqueue(asynq.NewTask("snooze", []byte(`{"name":"`+name+`"}`)), opts...); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 20*time.Second, "all done", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.done) == len(cases)
	})
	for name := range cases {
		if s.runs[name] != s.times+1 {
			t.Errorf("%s ran %d times, want %d", name, s.runs[name], s.times+1)
		}
	}
	q, err := b.inspector.GetQueueInfo("default")
	if err != nil {
		t.Fatal(err)
	}
	if q.Archived != 0 || q.Retry != 0 || q.Scheduled != 0 || q.Pending != 0 {
		t.Fatalf("queue after deferrals: %+v", q)
	}
	deferred := b.logs.Events("job.deferred")
	if len(deferred) != 3*len(cases) {
		t.Fatalf("%d job.deferred lines, want %d", len(deferred), 3*len(cases))
	}
	for _, l := range deferred {
		if l["reason"] != "test_snooze" {
			t.Fatalf("deferred line = %v", l)
		}
	}
	// max0 had no retry to spend, so its deferrals went through copies.
	var copied bool
	for _, l := range b.logs.Events("job.done") {
		if id, _ := l["task_id"].(string); strings.HasPrefix(id, "max0~") {
			copied = true
		}
	}
	if !copied {
		t.Error("max0 was not re-enqueued as a copy")
	}
	// Deferrals counted no attempt: every done line of a task that kept its
	// ID is its first attempt.
	for _, l := range b.logs.Events("job.done") {
		if l["attempt"] != float64(1) {
			t.Errorf("done line %v: deferrals counted attempts", l)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	if _, err := runner.New(runner.Config{}); err == nil || !strings.Contains(err.Error(), "Config.Redis") {
		t.Fatalf("New without Redis: %v", err)
	}
	_, b := harness(t, runner.Config{})
	if _, err := runner.New(runner.Config{Redis: b.rdb, Queues: map[string]int{"x": 0}}); err == nil ||
		!strings.Contains(err.Error(), `queue "x" has priority 0`) {
		t.Fatalf("bad queue: %v", err)
	}
	if _, err := runner.New(runner.Config{Redis: b.rdb, PollInterval: time.Nanosecond}); err == nil ||
		!strings.Contains(err.Error(), "PollInterval 1ns is below the floor of 10ms") {
		t.Fatalf("1ns poll interval: %v", err)
	}
}

// TestLogDurationsAreIntegerMilliseconds: every duration in the runner's
// log lines is whole milliseconds in a field ending in _ms, so that log
// pipelines need no unit guessing.
func TestLogDurationsAreIntegerMilliseconds(t *testing.T) {
	r, b := harness(t, runner.Config{ShutdownTimeout: 200 * time.Millisecond, HardStopGrace: 300 * time.Millisecond})
	var runs atomic.Int32
	err := r.Register(&job.Definition[greet]{Type: "slow", Handle: func(ctx context.Context, g greet) error {
		if runs.Add(1) == 1 {
			return job.Defer("waiting", 1234567*time.Microsecond, nil)
		}
		<-ctx.Done()
		return ctx.Err()
	}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	if _, err := b.client.Enqueue(asynq.NewTask("slow", []byte(`{"name":"a"}`)), asynq.TaskID("s")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the deferral", func() bool { return len(b.logs.Events("job.deferred")) == 1 })
	if err := b.inspector.RunTask("default", "s"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the second run", func() bool { return runs.Load() == 2 })
	_ = r.Shutdown(context.Background())
	if len(b.logs.Events("drain.hard")) != 1 {
		t.Fatal("no hard phase")
	}
	seen := map[string]bool{}
	for _, l := range b.logs.Events("") {
		for k, v := range l {
			for _, bad := range []string{"retry_in", "shutdown_timeout", "hard_stop_grace", "grace"} {
				if k == bad {
					t.Errorf("%s: field %s without a unit", l["event"], k)
				}
			}
			if strings.HasSuffix(k, "_ms") {
				f, ok := v.(float64)
				if !ok || f != float64(int64(f)) {
					t.Errorf("%s: %s=%v is not whole milliseconds", l["event"], k, v)
				}
				seen[k] = true
			}
		}
	}
	if d := b.logs.Events("job.deferred")[0]["retry_in_ms"]; d != float64(1235) {
		t.Errorf("retry_in_ms = %v, want 1235", d)
	}
	for _, k := range []string{"duration_ms", "retry_in_ms", "shutdown_timeout_ms", "hard_stop_grace_ms", "grace_ms"} {
		if !seen[k] {
			t.Errorf("no line had %s", k)
		}
	}
}

// TestReadyzWhenRedisHangs: with Redis stopped (SIGSTOP: connections are
// accepted, nothing answers), /readyz answers at once and turns 503 within
// a second, saying Redis does not answer; it is 200 again within a second
// of Redis answering. jobrunner_redis_up follows.
func TestReadyzWhenRedisHangs(t *testing.T) {
	r, b := harness(t, runner.Config{})
	ops := httptest.NewServer(r.Handler())
	defer ops.Close()
	hc := &http.Client{Timeout: 2 * time.Second}
	get := func(path string) (int, string, time.Duration) {
		t0 := time.Now()
		resp, err := hc.Get(ops.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(body)), time.Since(t0)
	}
	start(t, r)
	if code, body, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz = %d %q", code, body)
	}
	// Watch one poll in flight to Redis too, as a working worker has.
	b.redis.Pause()
	paused := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			b.redis.Resume()
		}
	}()
	var slowest time.Duration
	for {
		code, body, took := get("/readyz")
		slowest = max(slowest, took)
		if code == 503 {
			t.Logf("readyz 503 %v after the pause: %q", time.Since(paused).Round(time.Millisecond), body)
			if !strings.Contains(body, "not answering") {
				t.Errorf("readyz body %q, want it to say Redis is not answering", body)
			}
			break
		}
		if time.Since(paused) > time.Second {
			t.Fatalf("readyz still %d %q %v after Redis stopped answering", code, body, time.Since(paused))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, body, _ := get("/metrics"); !strings.Contains(body, "jobrunner_redis_up 0") {
		t.Errorf("jobrunner_redis_up is not 0 while Redis hangs")
	}
	b.redis.Resume()
	resumed = true
	back := time.Now()
	for {
		code, body, took := get("/readyz")
		slowest = max(slowest, took)
		if code == 200 {
			t.Logf("readyz 200 %v after Redis answered again", time.Since(back).Round(time.Millisecond))
			break
		}
		if time.Since(back) > time.Second {
			t.Fatalf("readyz still %d %q %v after Redis answered again", code, body, time.Since(back))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if slowest > 200*time.Millisecond {
		t.Errorf("a /readyz request took %v: readiness must not wait on Redis", slowest)
	}
	logs := b.logs.Events("redis.unhealthy")
	if len(logs) != 1 || !strings.Contains(fmt.Sprint(logs[0]["reason"]), "not answering") {
		t.Errorf("redis.unhealthy lines = %v, want one saying Redis is not answering", logs)
	}
	if len(b.logs.Events("redis.healthy")) != 1 {
		t.Errorf("want one redis.healthy line")
	}
}
