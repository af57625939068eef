package enqueue

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/job/builtin"
	"github.com/jobrunner/jobrunner/setup"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/enqueue")

// goldenDir holds the golden files, shared with cmd/enqueue.
const goldenDir = "../testdata/enqueue"

func TestMain(m *testing.M) {
	setup.RouteRedisLogs(zerolog.Nop())
	// The API's JSON Lines bodies, checked as text against the document.
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.PlainBodyDecoder)
	goleak.VerifyTestMain(coverageRun{m},
		// A go-redis pool that met a dial error keeps one redial goroutine
		// sleeping for up to a second after the client is closed.
		goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial"),
	)
}

// echoPayload is the payload of the test job type test.echo.
type echoPayload struct {
	Msg      string `json:"msg"`
	Fail     bool   `json:"fail,omitempty"`      // fails for good
	FailOnce bool   `json:"fail_once,omitempty"` // the first attempt fails
}

func (p echoPayload) Validate() error {
	if p.Msg == "" {
		return job.FieldError("msg", "is required")
	}
	return nil
}

const echoType = "test.echo"

// testRegistry holds demo.sleep and test.echo, and no other built-in, so
// that the golden files do not change when a built-in is added.
func testRegistry(t testing.TB) *job.Registry {
	reg := job.NewRegistry()
	err := reg.Register(builtin.Sleep(), &job.Definition[echoPayload]{
		Type:   echoType,
		Handle: func(context.Context, echoPayload) error { return nil }, // the tests run their own asynq handler
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// testBundle is a CLI wired to a dedicated Redis.
type testBundle struct {
	srv *redistest.Server
	rdb *redis.Client
	cfg Config
	env map[string]string
}

// newBundle returns a CLI configured for a Redis of its own.
func newBundle(t testing.TB) *testBundle {
	t.Helper()
	srv := redistest.Start(t)
	return &testBundle{
		srv: srv,
		rdb: srv.Client(),
		cfg: Config{Registry: testRegistry(t), pollMax: 100 * time.Millisecond},
		env: map[string]string{"REDIS_URL": srv.URL()},
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// String formats r as the golden files hold it.
func (r result) String() string {
	return fmt.Sprintf("exit %d\n-- stdout\n%s-- stderr\n%s", r.code, r.stdout, r.stderr)
}

func (b *testBundle) run(t testing.TB, stdin string, args ...string) result {
	t.Helper()
	return b.runCtx(context.Background(), stdin, args...)
}

// runCtx runs Main with ctx; it is safe from a goroutine.
func (b *testBundle) runCtx(ctx context.Context, stdin string, args ...string) result {
	var out, errOut bytes.Buffer
	code := Main(ctx, b.cfg, args, strings.NewReader(stdin), &out, &errOut, func(k string) string { return b.env[k] })
	return result{code, out.String(), errOut.String()}
}

// keys returns every key in the bundle's Redis.
func (b *testBundle) keys(t testing.TB) []string {
	t.Helper()
	ks, err := b.rdb.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func (b *testBundle) inspector() *asynq.Inspector {
	return asynq.NewInspectorFromRedisClient(b.rdb)
}

// golden compares got with testdata/enqueue/name, or rewrites it with
// -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestHelpGolden(t *testing.T) {
	t.Parallel()
	b := &testBundle{cfg: Config{Registry: testRegistry(t)}}
	for _, arg := range []string{"--help", "-h"} {
		r := b.run(t, "", arg)
		if r.code != ExitOK || r.stderr != "" {
			t.Fatalf("%s: exit %d, stderr %q", arg, r.code, r.stderr)
		}
		golden(t, "help.golden", r.stdout)
		// The duration rule is said in the help as in the errors.
		if !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), durationRule) {
			t.Errorf("--help does not say %q", durationRule)
		}
	}
}

func TestEnqueueVisibleInInspector(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	deadline := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	r := b.run(t, "", "demo.sleep", `{"ms": 5}`, "--queue", "critical", "--max-retry", "3", "--timeout", "90s",
		"--deadline", deadline.Format(time.RFC3339), "--unique", "1h", "--task-id", "t-1", "--retention", "2h")
	if r.code != ExitOK || r.stdout != "enqueued t-1 on queue critical\n" {
		t.Fatalf("run = %+v", r)
	}
	info, err := b.inspector().GetTaskInfo("critical", "t-1")
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != "demo.sleep" || string(info.Payload) != `{"ms": 5}` || info.State != asynq.TaskStatePending ||
		info.MaxRetry != 3 || info.Timeout != 90*time.Second || !info.Deadline.Equal(deadline) || info.Retention != 2*time.Hour {
		t.Fatalf("info = %+v", info)
	}
	if n, _ := b.rdb.Exists(context.Background(), asynqdb.UniqueKey("critical", "demo.sleep", []byte(`{"ms": 5}`))).Result(); n != 1 {
		t.Fatal("no unique lock")
	}
	// Scheduled, with the definition's defaults, JSON output.
	r = b.run(t, "{}\n", "--output", "json", "--process-in", "1h", "--payload-file", "-", "demo.sleep", "--task-id", "t-2")
	if r.code != ExitOK || !strings.Contains(r.stdout, `"state":"scheduled"`) {
		t.Fatalf("run = %+v", r)
	}
	info, err = b.inspector().GetTaskInfo("default", "t-2")
	if err != nil {
		t.Fatal(err)
	}
	if info.State != asynq.TaskStateScheduled || info.MaxRetry != job.MaxRetryDefault || info.Timeout != job.TimeoutDefault ||
		time.Until(info.NextProcessAt) < 59*time.Minute || string(info.Payload) != "{}" {
		t.Fatalf("info = %+v", info)
	}
}

func TestPayloadFromStdinAndInterspersedFlags(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	r := b.run(t, "  {\"msg\":\"hi\"}\n", "--task-id", "a", echoType, "--payload-file", "-", "--queue", "q")
	if r.code != ExitOK {
		t.Fatalf("run = %+v", r)
	}
	info, err := b.inspector().GetTaskInfo("q", "a")
	if err != nil || string(info.Payload) != `{"msg":"hi"}` {
		t.Fatalf("info = %+v, %v", info, err)
	}
	// "--" ends the flags: a payload may start with "-".
	r = b.run(t, "", "--allow-unknown", "--task-id", "b", "--", "other.type", "-1")
	if r.code != ExitOK {
		t.Fatalf("run = %+v", r)
	}
	info, err = b.inspector().GetTaskInfo("default", "b")
	if err != nil || string(info.Payload) != "-1" || info.Type != "other.type" {
		t.Fatalf("info = %+v, %v", info, err)
	}
}

func TestDryRunTouchesNothing(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	if r := b.run(t, "", "demo.sleep", "--task-id", "seed"); r.code != ExitOK {
		t.Fatalf("seed: %+v", r)
	}
	before := b.keys(t)
	info, _ := b.rdb.Info(context.Background(), "commandstats").Result()
	for _, args := range [][]string{
		{"--dry-run", "demo.sleep", `{"ms":1}`, "--unique", "1h"},
		{"--dry-run", "--output", "json", "demo.sleep", "--task-id", "seed"},
		{"--dry-run", "--file", "-"},
	} {
		r := b.run(t, `{"type":"demo.sleep","payload":{"ms":2}}`+"\n", args...)
		if r.code != ExitOK || r.stderr != "" || !strings.Contains(r.stdout, "dry") {
			t.Fatalf("%v: %+v", args, r)
		}
	}
	if after := b.keys(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("keys changed: %v -> %v", before, after)
	}
	// Not one command reached Redis beyond our own KEYS and INFO.
	info2, _ := b.rdb.Info(context.Background(), "commandstats").Result()
	strip := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, "cmdstat_keys") && !strings.HasPrefix(l, "cmdstat_info") {
				keep = append(keep, strings.TrimSpace(l))
			}
		}
		return strings.Join(keep, "\n")
	}
	if strip(info) != strip(info2) {
		t.Fatalf("commands ran during --dry-run:\n%s\n---\n%s", info, info2)
	}
}

func TestDryRunOutput(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	b := &testBundle{cfg: Config{Registry: testRegistry(t), now: func() time.Time { return now }}}
	r := b.run(t, "", "--dry-run", "--output", "json", "demo.sleep", `{"ms":1}`, "--process-at", "2026-05-01T13:00:00Z",
		"--deadline", "2026-05-02T00:00:00Z", "--timeout", "0")
	golden(t, "dry-run.json.golden", r.stdout)
	r = b.run(t, "", "--dry-run", "demo.sleep", `{"ms":1}`, "--unique", "10m", "--task-id", "x")
	golden(t, "dry-run.txt.golden", r.stdout)
}

func TestConflict(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	if r := b.run(t, "", "demo.sleep", "--unique", "1h"); r.code != ExitOK {
		t.Fatalf("first: %+v", r)
	}
	r := b.run(t, "", "demo.sleep", "--unique", "1h")
	if r.code != ExitConflict || !strings.Contains(r.stderr, "duplicate") {
		t.Fatalf("duplicate: %+v", r)
	}
	if r := b.run(t, "", "demo.sleep", "--task-id", "x"); r.code != ExitOK {
		t.Fatalf("first: %+v", r)
	}
	r = b.run(t, "", "demo.sleep", `{"ms":3}`, "--task-id", "x")
	if r.code != ExitConflict || !strings.Contains(r.stderr, `task ID "x" already exists`) {
		t.Fatalf("conflict: %+v", r)
	}
}

func TestRedisUnreachableFailsFast(t *testing.T) {
	t.Parallel()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	b := &testBundle{cfg: Config{Registry: testRegistry(t)}}
	start := time.Now()
	r := b.run(t, "", "--redis-url", fmt.Sprintf("redis://user:s3cret@127.0.0.1:%d/0", port), "demo.sleep")
	if r.code != ExitError || strings.Contains(r.stderr, "s3cret") || !strings.Contains(r.stderr, "xxxxx") ||
		strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("run = %+v", r)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestRedisURLFromEnv(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	b.env["REDIS_URL"] = "redis://" + b.srv.Addr + "/3"
	if r := b.run(t, "", "demo.sleep", "--task-id", "db3"); r.code != ExitOK {
		t.Fatalf("run = %+v", r)
	}
	if n, _ := b.rdb.Exists(context.Background(), asynqdb.TaskKey("default", "db3")).Result(); n != 0 {
		t.Fatal("task written to db 0, not 3")
	}
	// --redis-url wins over REDIS_URL.
	if r := b.run(t, "", "--redis-url", b.srv.URL(), "demo.sleep", "--task-id", "db0"); r.code != ExitOK {
		t.Fatalf("run = %+v", r)
	}
	if n, _ := b.rdb.Exists(context.Background(), asynqdb.TaskKey("default", "db0")).Result(); n != 1 {
		t.Fatal("task not in db 0")
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	var errOut bytes.Buffer
	code := Main(context.Background(), Config{BatchSize: -1}, nil, nil, &bytes.Buffer{}, &errOut, nil)
	if code != ExitError || !strings.Contains(errOut.String(), "Config.BatchSize") {
		t.Fatalf("exit %d, %q", code, errOut.String())
	}
}

func TestUnknownTypesNeedAllowUnknown(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	r := b.run(t, "", "mine.custom", `{"anything": [1, 2]}`)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--allow-unknown") {
		t.Fatalf("run = %+v", r)
	}
	if len(b.keys(t)) != 0 {
		t.Fatal("something was written")
	}
	r = b.run(t, "", "mine.custom", `{"anything": [1, 2]}`, "--allow-unknown", "--task-id", "u")
	if r.code != ExitOK {
		t.Fatalf("run = %+v", r)
	}
	if _, err := b.inspector().GetTaskInfo("default", "u"); err != nil {
		t.Fatal(err)
	}
	r = b.run(t, "", "mine.custom", `{"anything": `, "--allow-unknown")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "not valid JSON") {
		t.Fatalf("run = %+v", r)
	}
}

func TestOptionLayering(t *testing.T) {
	t.Parallel()
	s := func(v string) *string { return &v }
	d := func(v time.Duration) *time.Duration { return &v }
	base := optionSet{Queue: s("a"), ProcessIn: d(time.Minute), Unique: d(time.Hour)}
	got := base.over(optionSet{Queue: s("b"), ProcessAt: &time.Time{}})
	if *got.Queue != "b" || got.ProcessIn != nil || got.ProcessAt == nil || *got.Unique != time.Hour {
		t.Fatalf("over = %+v", got)
	}
}

func TestLineReaderLongLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 200<<10)
	in := "a\r\n" + long + "\n\nb\n" + long + "\nc"
	lr := newLineReader(strings.NewReader(in), 100<<10)
	var got []string
	for {
		line, err := lr.next()
		if errors.Is(err, errLineTooLong) {
			got = append(got, fmt.Sprintf("%d:long", lr.n))
			continue
		}
		if err != nil {
			break
		}
		got = append(got, fmt.Sprintf("%d:%s", lr.n, line))
	}
	if s := strings.Join(got, " "); s != "1:a 2:long 3: 4:b 5:long 6:c" {
		t.Fatalf("lines = %s", s)
	}
}

func TestConfigCheck(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	var calls atomic.Int32
	b.cfg.Check = func(_ context.Context, typ string, payload any) error {
		calls.Add(1)
		if p, ok := payload.(echoPayload); ok && p.Msg == "no" {
			return fmt.Errorf("%s: msg %q refused by the check", typ, p.Msg)
		}
		return nil
	}
	r := b.run(t, "", echoType, `{"msg":"no"}`)
	if r.code != ExitUsage || r.stderr != "enqueue: test.echo: msg \"no\" refused by the check\n" {
		t.Fatalf("single: %+v", r)
	}
	r = b.run(t, `{"type":"test.echo","payload":{"msg":"yes"}}
{"type":"test.echo","payload":{"msg":"no"}}
{"type":"other.type","payload":{"msg":"no"}}
`, "--file", "-", "--allow-unknown")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "stdin:2: test.echo: msg \"no\" refused by the check") ||
		!strings.Contains(r.stdout, "enqueued 2") {
		t.Fatalf("bulk: %+v", r)
	}
	// Not called for unknown types, nor for payloads the decoder refused.
	if n := calls.Load(); n != 3 {
		t.Fatalf("Check called %d times, want 3", n)
	}
}
