package runner_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/testkit/logtest"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/runner"
)

// testBundle is what setup returns besides the runner.
type testBundle struct {
	redis     *redistest.Server
	rdb       *redis.Client
	client    *asynq.Client
	inspector *asynq.Inspector
	logs      *logtest.Buffer
}

// harness returns an unstarted runner on a dedicated Redis with fast polling.
// start it with bundle.start.
func harness(t *testing.T, cfg runner.Config) (*runner.Runner, *testBundle) {
	t.Helper()
	return setupTB(t, cfg)
}

func setupTB(t testing.TB, cfg runner.Config) (*runner.Runner, *testBundle) {
	t.Helper()
	srv := redistest.Start(t)
	b := &testBundle{redis: srv, rdb: srv.Client()}
	b.client, b.inspector = asynq.NewClientFromRedisClient(b.rdb), asynq.NewInspectorFromRedisClient(b.rdb)
	r, logs := newRunner(t, b.rdb, cfg)
	b.logs = logs
	return r, b
}

// setupOn returns another unstarted runner on b's Redis, with its own logs.
func setupOn(t testing.TB, b *testBundle, cfg runner.Config) (*runner.Runner, *logtest.Buffer) {
	t.Helper()
	return newRunner(t, b.rdb, cfg)
}

func newRunner(t testing.TB, rdb *redis.Client, cfg runner.Config) (*runner.Runner, *logtest.Buffer) {
	t.Helper()
	logs := &logtest.Buffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel)
	cfg.Redis = rdb
	cfg.Logger = &log
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 10 * time.Millisecond
	}
	if cfg.DelayedCheckInterval == 0 {
		cfg.DelayedCheckInterval = 100 * time.Millisecond
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	r, err := runner.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	registries.Store(r, cfg.Metrics)
	return r, logs
}

// registries maps the runners setup made to their metrics registries.
var registries sync.Map

// gatherer returns the registry holding r's metrics.
func gatherer(t *testing.T, r *runner.Runner) prometheus.Gatherer {
	t.Helper()
	g, ok := registries.Load(r)
	if !ok {
		t.Fatal("runner not made by setup")
	}
	return g.(prometheus.Gatherer)
}

// metricsBody returns r's metrics in the text exposition format.
func metricsBody(t *testing.T, r *runner.Runner) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// start starts r and shuts it down when the test ends.
func start(t *testing.T, r *runner.Runner) {
	t.Helper()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = r.Shutdown(ctx)
	})
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// taskState returns the task's state and info from the inspector.
func taskInfo(t *testing.T, b *testBundle, queue, id string) *asynq.TaskInfo {
	t.Helper()
	info, err := b.inspector.GetTaskInfo(queue, id)
	if err != nil {
		t.Fatalf("GetTaskInfo(%s): %v", id, err)
	}
	return info
}
