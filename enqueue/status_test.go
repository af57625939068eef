package enqueue

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/batchdb"
	"github.com/jobrunner/jobrunner/internal/fleet"
	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
)

// Secrets in the payload and headers of the deferred job: --status shows
// neither.
const (
	statusPayloadSecret = "payload-secret-4711"
	statusHeaderSecret  = "header-secret-0815"
)

// statusBundle is a CLI with the worker's environment, on a Redis where
// a shared breaker is open, a concurrency slot is held, and a job waits
// for the breaker in the retry set.
func statusBundle(t *testing.T) *testBundle {
	t.Helper()
	b := newBundle(t)
	b.env[fleet.QueuesEnv] = "default=3,low=1"
	b.env[fleet.LimitsEnv] = "pay.example=concurrency:2;hooks.example=rate:1/m"
	b.env[fleet.SharedBreakersEnv] = "pay.example"
	b.env[SchedulesEnv] = `@every 60s demo.sleep {"ms":1} name=beat`
	ctx := context.Background()

	sb, err := resilience.NewSharedBreaker(b.rdb, "pay.example", resilience.SharedConfig{
		BreakerConfig: resilience.BreakerConfig{FailureThreshold: 1, OpenTimeout: time.Hour, OpenJitter: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Call(ctx, func(context.Context) error { return errors.New("503 from pay.example") }); err == nil {
		t.Fatal("the failing call returned nil")
	}
	if st, err := sb.State(ctx); err != nil || st != resilience.StateOpen {
		t.Fatalf("shared breaker %v, %v; want open", st, err)
	}
	if _, err := lockcore.NewRedisStore(b.rdb, lockcore.RedisConfig{}).TakeSlot(ctx, "pay.example", 2, time.Minute, "default\ntask-1"); err != nil {
		t.Fatal(err)
	}

	// A batch in progress (its callback's payload holds a secret): three
	// jobs, two of them counted.
	bcb := batchdb.Callback{Type: "batch.report", Payload: []byte(`{"msg":"` + statusPayloadSecret + `"}`), Queue: "default"}
	if err := batchdb.Open(ctx, b.rdb, "nightly-42", time.Hour, bcb, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := batchdb.Add(ctx, b.rdb, "nightly-42", []string{"j1", "j2", "j3"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"j1", "j2"} {
		if _, err := batchdb.Count(ctx, b.rdb, "nightly-42", m, "task-"+m, false); err != nil {
			t.Fatal(err)
		}
	}

	// A job deferred by the open breaker, through asynq's own server.
	task := asynq.NewTaskWithHeaders(echoType, []byte(`{"msg":"`+statusPayloadSecret+`"}`),
		map[string]string{"authorization": statusHeaderSecret}, asynq.TaskID("waits"))
	if _, err := asynq.NewClientFromRedisClient(b.rdb).Enqueue(task); err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{}, 1)
	srv := asynq.NewServerFromRedisClient(b.rdb, asynq.Config{
		Queues: map[string]int{"default": 1}, LogLevel: asynq.FatalLevel,
		RetryDelayFunc: func(int, error, *asynq.Task) time.Duration { return time.Hour },
		IsFailure:      func(err error) bool { var d *job.DeferError; return !errors.As(err, &d) },
	})
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		ran <- struct{}{}
		return &job.DeferError{Reason: "breaker_open", After: time.Hour, Err: errors.New("pay.example is open")}
	})); err != nil {
		t.Fatal(err)
	}
	<-ran
	srv.Shutdown()
	for deadline := time.Now().Add(5 * time.Second); b.rdb.ZCard(ctx, "asynq:{default}:retry").Val() != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the job did not reach the retry set")
		}
	}
	return b
}

// TestStatusFromRedisAlone: --status prints, from Redis and the worker's
// environment alone, the open shared breaker, the limits and who holds
// them, the schedule, and the job deferred by the breaker; --output json
// the same as one object; neither shows a payload or a header.
func TestStatusFromRedisAlone(t *testing.T) {
	t.Parallel()
	b := statusBundle(t)
	r := b.run(t, "", "--status")
	if r.code != ExitOK || r.stderr != "" {
		t.Fatalf("--status: %v", r)
	}
	for _, want := range []string{
		"pay.example  open", "pay.example    1/2", "task-1", "hooks.example  -", "1/m",
		"beat", "never", "breaker_open  default  1",
		"queue default: 1 in retry (0 of those read after a failure)", "queue low: 0 in retry",
		"BATCHES IN PROGRESS", "nightly-42  2/3   0         open   batch.report",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("--status lacks %q:\n%s", want, r.stdout)
		}
	}
	j := b.run(t, "", "--status", "--output", "json")
	if j.code != ExitOK || j.stderr != "" || strings.Count(j.stdout, "\n") != 1 {
		t.Fatalf("--status --output json: %v; want one line", j)
	}
	var st fleet.Status
	if err := json.Unmarshal([]byte(j.stdout), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Breakers) != 1 || st.Breakers[0].State != "open" || len(st.Limits) != 2 || len(st.Schedules) != 1 ||
		st.Schedules[0].Queue != "default" || st.Deferred.Total != 1 || st.Deferred.ByReason[0].Reason != "breaker_open" ||
		len(st.Batches.InProgress) != 1 || st.Batches.InProgress[0].ID != "nightly-42" || st.Batches.InProgress[0].Total != 3 ||
		st.Batches.InProgress[0].Done != 2 {
		t.Errorf("json: %+v", st)
	}
	for _, out := range []string{r.stdout, j.stdout} {
		if strings.Contains(out, statusPayloadSecret) || strings.Contains(out, statusHeaderSecret) {
			t.Errorf("--status shows a payload or a header:\n%s", out)
		}
	}
}

func TestStatusErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env  map[string]string
		args []string
		code int
		want string
	}{
		{map[string]string{fleet.LimitsEnv: "x=speed:1"}, []string{"--status"}, ExitUsage,
			`enqueue: WORKER_DEPENDENCY_LIMITS="x=speed:1": entry "x=speed:1": unknown setting "speed"`},
		{map[string]string{fleet.QueuesEnv: "default"}, []string{"--status"}, ExitUsage, `enqueue: WORKER_QUEUES="default": want name=priority`},
		{map[string]string{SchedulesEnv: "@hourly nope {}"}, []string{"--status"}, ExitUsage, `enqueue: WORKER_SCHEDULES line 1`},
		{nil, []string{"--status", "demo.sleep"}, ExitUsage, `enqueue: --status takes no TYPE or PAYLOAD_JSON arguments`},
		{nil, []string{"--status", "--schedules"}, ExitUsage, `enqueue: --status reads the fleet's state; it takes no --wait, --dry-run or --schedules`},
		{map[string]string{"REDIS_URL": "redis://127.0.0.1:1"}, []string{"--status"}, ExitError, `enqueue: redis redis://127.0.0.1:1 unreachable`},
	} {
		b := &testBundle{cfg: Config{Registry: testRegistry(t)}, env: map[string]string{"REDIS_URL": "redis://127.0.0.1:1"}}
		for k, v := range tt.env {
			b.env[k] = v
		}
		r := b.run(t, "", tt.args...)
		if r.code != tt.code || !strings.HasPrefix(r.stderr, tt.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v %v: %v; want exit %d and one line starting %q", tt.env, tt.args, r, tt.code, tt.want)
		}
	}
}

// TestStatusDoesNotCarryTheWorker: the enqueue package (and so --status)
// does not import the runner: a producer binary does not carry the
// worker.
func TestStatusDoesNotCarryTheWorker(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/jobrunner/jobrunner/runner" {
			t.Errorf("package enqueue imports %s", pkg)
		}
	}
}
