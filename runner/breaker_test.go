package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/job/builtin"
	"github.com/jobrunner/jobrunner/resilience"
	"github.com/jobrunner/jobrunner/runner"
)

// flakyServer answers 503 while down, 200 otherwise, and counts requests.
type flakyServer struct {
	*httptest.Server
	down         atomic.Bool
	ok, failures atomic.Int64
	mu           sync.Mutex
	downTimes    []time.Time
}

func newFlakyServer(t *testing.T) *flakyServer {
	f := &flakyServer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if f.down.Load() {
			f.failures.Add(1)
			f.mu.Lock()
			f.downTimes = append(f.downTimes, time.Now())
			f.mu.Unlock()
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		f.ok.Add(1)
	}))
	t.Cleanup(f.Close)
	return f
}

func TestBreakerDefersDuringOutageAndEveryJobCompletes(t *testing.T) {
	const openFor = 400 * time.Millisecond
	r, b := harness(t, runner.Config{
		Concurrency:  4,
		Breakers:     resilience.RegistryConfig{Default: resilience.BreakerConfig{OpenTimeout: openFor}},
		RetryBackoff: func(int, error) time.Duration { return 10 * time.Millisecond },
	})
	if err := r.Register(builtin.Webhook(builtin.Config{})); err != nil {
		t.Fatal(err)
	}
	srv := newFlakyServer(t)
	srv.down.Store(true)
	start(t, r)

	const jobs = 30
	body, _ := json.Marshal(map[string]any{"url": srv.URL + "/hook", "body": "{}"})
	for range jobs {
		if _, err := b.client.Enqueue(asynq.NewTask(builtin.WebhookType, body), asynq.MaxRetry(25), asynq.Retention(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	// The outage lasts a few open periods.
	waitFor(t, 10*time.Second, "breaker open", func() bool { return len(b.logs.Events("breaker.transition")) > 0 })
	outageStart := time.Now()
	time.Sleep(5 * openFor)
	srv.down.Store(false)
	outage := time.Since(outageStart)

	waitFor(t, 30*time.Second, "all jobs done", func() bool { return srv.ok.Load() == jobs })
	waitFor(t, 5*time.Second, "completed in Redis", func() bool {
		q, err := b.inspector.GetQueueInfo("default")
		return err == nil && q.Completed == jobs
	})
	q, _ := b.inspector.GetQueueInfo("default")
	if q.Archived != 0 || q.Retry != 0 || q.Pending != 0 {
		t.Fatalf("queue = %+v", q)
	}

	// During the outage (after the trip) the server saw at most the
	// half-open probes of each open period (≥ 0.9×openFor each).
	srv.mu.Lock()
	var inOutage int
	for _, at := range srv.downTimes {
		if at.After(outageStart) {
			inOutage++
		}
	}
	srv.mu.Unlock()
	periods := int(outage/(openFor*9/10)) + 1
	if limit := periods * resilience.HalfOpenMaxCallsDefault; inOutage > limit {
		t.Errorf("server saw %d requests during a %v outage, want at most %d (half-open probes only)", inOutage, outage, limit)
	}
	if len(b.logs.Events("job.deferred")) == 0 {
		t.Fatal("no job was deferred during the outage")
	}
	for _, l := range b.logs.Events("job.deferred") {
		if l["reason"] != "breaker_open" || l["dependency"] != srv.Listener.Addr().String() {
			t.Fatalf("deferred line = %v", l)
		}
	}

	// Deferrals consumed no retries: the retries counted in Redis are
	// exactly the failed deliveries the server answered.
	var retried int
	tasks, err := b.inspector.ListCompletedTasks("default", asynq.PageSize(100))
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range tasks {
		retried += ti.Retried
	}
	if int64(retried) != srv.failures.Load() {
		t.Fatalf("sum of retry counts = %d, failed deliveries = %d: deferrals consumed retries", retried, srv.failures.Load())
	}
	if srv.failures.Load() < resilience.FailureThresholdDefault {
		t.Fatalf("only %d failures before the trip", srv.failures.Load())
	}
}

func TestBreakerAttribution(t *testing.T) {
	r, b := harness(t, runner.Config{
		Breakers:     resilience.RegistryConfig{Default: resilience.BreakerConfig{FailureThreshold: 2, OpenTimeout: time.Hour}},
		RetryBackoff: func(int, error) time.Duration { return time.Millisecond },
	})
	type p struct {
		Err  string `json:"err"`
		Deps []string
	}
	errs := map[string]error{
		"permanent": job.Permanent(errors.New("bad request")),
		"skip":      asynq.SkipRetry,
		"fail":      errors.New("boom"),
	}
	err := r.Register(&job.Definition[p]{
		Type:         "attr",
		Dependencies: func(p p) []string { return []string{"dep-" + p.Err} },
		Handle:       func(_ context.Context, p p) error { return errs[p.Err] },
	})
	if err != nil {
		t.Fatal(err)
	}
	start(t, r)
	for _, e := range []string{"permanent", "permanent", "permanent", "skip", "skip", "skip", "fail", "fail"} {
		if _, err := b.client.Enqueue(asynq.NewTask("attr", []byte(`{"err":"`+e+`"}`)), asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "8 archived", func() bool {
		q, err := b.inspector.GetQueueInfo("default")
		return err == nil && q.Archived == 8
	})
	for dep, want := range map[string]resilience.State{
		"dep-permanent": resilience.StateClosed, "dep-skip": resilience.StateClosed, "dep-fail": resilience.StateOpen,
	} {
		if got := r.Breakers().Get(dep).State(); got != want {
			t.Errorf("%s: state %v, want %v", dep, got, want)
		}
	}
	// A job needing an open dependency is deferred, not run or failed.
	if _, err := b.client.Enqueue(asynq.NewTask("attr", []byte(`{"err":"fail"}`)), asynq.MaxRetry(0), asynq.TaskID("waits")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "deferred", func() bool { return len(b.logs.Events("job.deferred")) > 0 })
	// MaxRetry 0: the deferral re-enqueued a copy and revoked the original.
	waitFor(t, 5*time.Second, "copy scheduled", func() bool {
		info, err := b.inspector.GetTaskInfo("default", "waits~1")
		return err == nil && info.State == asynq.TaskStateScheduled
	})
	if q, _ := b.inspector.GetQueueInfo("default"); q.Archived != 8 {
		t.Fatalf("archived = %d, want 8: the deferred job was archived", q.Archived)
	}
}
