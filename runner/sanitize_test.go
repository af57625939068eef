package runner_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/enqueue"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
	setuppkg "github.com/jobrunner/jobrunner/setup"
)

// leak is the payload of the e2e.leak job: which kind of secret its error
// carries. The payload itself holds none (payloads are never sanitized).
type leak struct {
	Kind string `json:"kind"`
}

// The secrets the e2e.leak job's errors carry.
const (
	leakAPIKey   = "apikey-0d7c4b1e9a"
	leakURLUser  = "urluser-5f3a2c"
	leakURLPass  = "urlpass-8e1b7d"
	leakDBPass   = "dbpass-2c9f41aa"
	leakJSONPass = "jsonpass-77ab12"
	leakBearer   = "bearer-eyJhbGciOiJIUzI1NiJ9x"
	leakRedisPW  = "redispw-R3q-9f8e6d"
	leakDeferTok = "defertok-41c0d9"
	leakPanicTok = "panictok-a1b2c3d4"
)

// leakBigBody is a megabyte of an upstream's error page.
var leakBigBody = strings.Repeat("<p>upstream error page</p>\n", 1<<20/27)

var leakSecrets = []string{leakAPIKey, leakURLUser, leakURLPass, leakDBPass, leakJSONPass, leakBearer, leakRedisPW, leakDeferTok, leakPanicTok}

// leakHandler returns the handler of e2e.leak against upstream, a server
// whose /v1/charge hangs up, /v1/refund answers 422 with a JSON body that
// echoes a password, and /v1/capture answers 403.
func leakHandler(upstream string) func(ctx context.Context, p leak) error {
	return func(ctx context.Context, p leak) error {
		switch p.Kind {
		case "url": // a real *url.Error: Get "http://user:***@host/...?api_key=...": EOF
			u := strings.Replace(upstream, "://", "://"+leakURLUser+":"+leakURLPass+"@", 1) + "/v1/charge?api_key=" + leakAPIKey
			c := &http.Client{Timeout: 5 * time.Second}
			resp, err := c.Get(u)
			if err == nil {
				resp.Body.Close()
				return job.Permanent(fmt.Errorf("charge: upstream did not hang up"))
			}
			return fmt.Errorf("charge: %w", err)
		case "dsn":
			return fmt.Errorf("orders: %w", fmt.Errorf("failed to connect to postgres://app:%s@db.internal:5432/orders: dial tcp: connection refused", leakDBPass))
		case "json":
			resp, err := http.Post(upstream+"/v1/refund", "application/json", strings.NewReader(`{}`))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("refund: status %d: %s", resp.StatusCode, body)
		case "header":
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, upstream+"/v1/capture", nil)
			req.Header.Set("Authorization", "Bearer "+leakBearer)
			dump, _ := httputil.DumpRequestOut(req, false)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			return fmt.Errorf("capture: status %d; request was:\n%s", resp.StatusCode, dump)
		case "redis":
			return fmt.Errorf("cache warm-up: config says requirepass %s, the server disagrees", leakRedisPW)
		case "deferred":
			return job.Defer("upstream_busy", time.Hour, fmt.Errorf("retry later with token=%s", leakDeferTok))
		case "panic":
			panic("Authorization: Bearer " + leakPanicTok)
		case "big":
			return fmt.Errorf("upstream said: %s", leakBigBody)
		}
		return nil
	}
}

func leakUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/charge", func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // hang up: the client gets EOF
		}
	})
	mux.HandleFunc("POST /v1/refund", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprintf(w, `{"error":"invalid_request","user":"app","password":%q}`, leakJSONPass)
	})
	mux.HandleFunc("POST /v1/capture", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// TestSanitizeEndToEnd runs a handler whose errors carry each kind of
// secret (a real *url.Error with userinfo and an api_key, a wrapped DSN, a
// JSON body, a header dump, the worker's own Redis password, a deferral's
// cause, a panic value) on a password-protected Redis, then searches every
// key and field of that Redis (asynq's task hashes hold protobuf: their
// raw bytes are searched), the captured logs, the exported spans and the
// output of enqueue --wait for the secrets. None may appear, while the
// host, the status code and the operation stay readable; a megabyte of
// error text is stored as 2 KB, and a panic's stack reaches the log only.
func TestSanitizeEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := redistest.Start(t)
	rdb := srv.Client()
	redisURL := srv.URL()
	if !srv.Embedded {
		if err := rdb.ConfigSet(ctx, "requirepass", leakRedisPW).Err(); err != nil {
			t.Fatal(err)
		}
		rdb = redis.NewClient(&redis.Options{Addr: srv.Addr, Password: leakRedisPW, ContextTimeoutEnabled: true})
		t.Cleanup(func() { rdb.Close() })
		redisURL = "redis://:" + leakRedisPW + "@" + srv.Addr
	}
	opts, err := setuppkg.ParseRedisURL("redis://:" + leakRedisPW + "@" + srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	upstream := leakUpstream(t)
	tr := newTraced(t)
	r, logs := newRunner(t, rdb, runner.Config{
		TracerProvider: tr.tp,
		// As cmd/worker does: the default rules plus the Redis passwords.
		Sanitize:     job.NewSanitizer(job.SanitizerConfig{Secrets: setuppkg.RedisSecrets(opts)}).Sanitize,
		RetryBackoff: func(int, error) time.Duration { return 50 * time.Millisecond },
	})
	def := &job.Definition[leak]{Type: "e2e.leak", Handle: leakHandler(upstream.URL)}
	if err := r.Register(def); err != nil {
		t.Fatal(err)
	}
	start(t, r)

	client := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { client.Close() })
	kinds := []string{"url", "dsn", "json", "header", "redis", "deferred", "panic", "big"}
	for _, k := range kinds {
		retries := 0
		if k == "deferred" {
			retries = 3 // not its last attempt: asynq stores the deferral as the error of a retry
		}
		if _, err := client.Enqueue(asynq.NewTask(def.Type, []byte(`{"kind":"`+k+`"}`)), asynq.TaskID(k), asynq.MaxRetry(retries)); err != nil {
			t.Fatal(err)
		}
	}

	// enqueue --wait, as an operator runs it, on a job that fails, is
	// retried and is archived.
	reg := job.NewRegistry()
	if err := reg.Register(def); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	env := map[string]string{"REDIS_URL": redisURL}
	code := enqueue.Main(ctx, enqueue.Config{Registry: reg}, []string{"--wait", "--wait-timeout", "30s", "--max-retry", "1", "--task-id", "waited", def.Type, `{"kind":"url"}`},
		strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
	cli := stdout.String() + stderr.String()
	// The retry line shows when --wait's poll sees the retry state, which
	// a loaded machine can miss; the final line always carries the error.
	if code != enqueue.ExitArchived || !strings.Contains(cli, "charge: Get") {
		t.Fatalf("enqueue --wait: exit %d\n%s", code, cli)
	}

	insp := asynq.NewInspectorFromRedisClient(rdb)
	lastErr := map[string]string{}
	waitFor(t, 20*time.Second, "every task archived or retrying", func() bool {
		for _, k := range kinds {
			info, err := insp.GetTaskInfo("default", k)
			if err != nil || info.LastErr == "" || info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateRetry {
				return false
			}
			lastErr[k] = info.LastErr
		}
		return true
	})

	// What stays readable: the operation, the host, the status code.
	host := strings.TrimPrefix(upstream.URL, "http://")
	for k, want := range map[string][]string{
		"url":      {`charge: Get "http://[redacted]@` + host + `/v1/charge?api_key=[redacted]": EOF`},
		"dsn":      {"orders: failed to connect to postgres://[redacted]@db.internal:5432/orders: dial tcp: connection refused"},
		"json":     {`refund: status 422: {"error":"invalid_request","user":"app","password":"[redacted]"}`},
		"header":   {"capture: status 403; request was:", "POST /v1/capture HTTP/1.1", "Host: " + host, "Authorization: [redacted]"},
		"redis":    {"cache warm-up: config says requirepass [redacted], the server disagrees"},
		"deferred": {"deferred (upstream_busy) for 1h0m0s: retry later with token=[redacted]"},
		"panic":    {"panic: Authorization: [redacted]"},
	} {
		for _, w := range want {
			if !strings.Contains(lastErr[k], w) {
				t.Errorf("stored error of %s = %q, want it to contain %q", k, lastErr[k], w)
			}
		}
	}
	if strings.Contains(lastErr["panic"], "goroutine") || strings.Contains(lastErr["panic"], ".go:") {
		t.Errorf("the stored error of a panic holds its stack: %q", lastErr["panic"])
	}
	if l := findLine(t, logs.Events("job.failed"), "panic"); !strings.Contains(fmt.Sprint(l["stack"]), "sanitize_test.go") {
		t.Errorf("the panic's log line has no stack: %v", l)
	}
	if big := lastErr["big"]; len(big) > 2<<10+64 || !strings.HasPrefix(big, "upstream said: <p>upstream error page</p>\n<p>") ||
		!strings.HasSuffix(big, fmt.Sprintf("…[truncated: %d bytes in all]", len(leakBigBody)+len("upstream said: "))) {
		t.Errorf("a megabyte of error text is stored as %d bytes ending %q", len(big), big[max(0, len(big)-60):])
	}
	if l := findLine(t, logs.Events("job.failed"), "big"); len(fmt.Sprint(l["error"])) > 2<<10+64 {
		t.Errorf("a megabyte of error text is logged as %d bytes", len(fmt.Sprint(l["error"])))
	}
	if !strings.Contains(cli, `Get "http://[redacted]@`+host+`/v1/charge?api_key=[redacted]": EOF`) {
		t.Errorf("enqueue --wait lost the readable part:\n%s", cli)
	}

	// Where none of the secrets may be: Redis, the logs, the spans, the CLI.
	places := map[string]string{"logs": logs.String(), "enqueue --wait": cli}
	for _, s := range tr.exp.GetSpans() {
		places["span "+s.Name] += fmt.Sprintf("%+v\n", s)
	}
	if len(tr.spans("job e2e.leak")) < len(kinds) {
		t.Fatalf("%d spans, want at least %d", len(tr.spans("job e2e.leak")), len(kinds))
	}
	dump := redistest.Dump(t, rdb)
	if len(dump) < len(kinds) {
		t.Fatalf("Redis holds %d keys", len(dump))
	}
	for key, val := range dump {
		places["redis key "+key] = val
	}
	for where, text := range places {
		for _, s := range leakSecrets {
			if strings.Contains(text, s) {
				i := strings.Index(text, s)
				t.Errorf("%s holds the secret %q: …%q…", where, s, text[max(0, i-120):min(len(text), i+60)])
			}
		}
	}
	var status []string
	for _, s := range tr.spans("job e2e.leak") {
		status = append(status, s.Status.Description)
	}
	if !strings.Contains(strings.Join(status, "\n"), `Get "http://[redacted]@`+host) {
		t.Errorf("span statuses lost the readable part: %q", status)
	}
}

// findLine returns the log line of the task with id, among lines.
func findLine(t *testing.T, lines []map[string]any, id string) map[string]any {
	t.Helper()
	for _, l := range lines {
		if l["task_id"] == id {
			return l
		}
	}
	t.Fatalf("no log line for task %s", id)
	return nil
}

// TestSanitizeReplacedFunction: Config.Sanitize replaces the default; it
// is called once for each attempt that ends in an error (and for asynq's
// warnings), never for one that succeeds; its result is cut to 2 KB, and one that panics withholds the
// text instead of crashing the worker.
func TestSanitizeReplacedFunction(t *testing.T) {
	t.Parallel()
	var calls, okCalls atomic.Int64
	sanitize := func(msg string) string {
		switch {
		case strings.HasPrefix(msg, "failed at"):
			calls.Add(1)
		case strings.Contains(msg, "ok"): // any text about the job that succeeds
			okCalls.Add(1)
		}
		switch {
		case strings.Contains(msg, "explode"):
			panic("sanitizer bug")
		case strings.Contains(msg, "grow"):
			return strings.Repeat("y", 1<<20)
		}
		return strings.ReplaceAll(msg, "internal-codename", "***")
	}
	r, b := harness(t, runner.Config{Sanitize: sanitize})
	if err := r.Register(&job.Definition[leak]{Type: "e2e.custom", Handle: func(_ context.Context, p leak) error {
		if p.Kind == "ok" {
			return nil
		}
		return errors.New("failed at internal-codename: " + p.Kind)
	}}); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	for _, k := range []string{"ok", "plain", "explode", "grow"} {
		if _, err := b.client.Enqueue(asynq.NewTask("e2e.custom", []byte(`{"kind":"`+k+`"}`)), asynq.TaskID(k), asynq.MaxRetry(0), asynq.Retention(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]func(string) bool{
		"plain":   func(s string) bool { return s == "failed at ***: plain" },
		"explode": func(s string) bool { return s == "error text withheld: Config.Sanitize panicked" },
		"grow": func(s string) bool {
			return len(s) < 2<<10+64 && strings.HasSuffix(s, fmt.Sprintf("…[truncated: %d bytes in all]", 1<<20))
		},
	}
	waitFor(t, 10*time.Second, "the failed tasks archived", func() bool {
		for k := range want {
			if info, err := b.inspector.GetTaskInfo("default", k); err != nil || info.State != asynq.TaskStateArchived {
				return false
			}
		}
		return true
	})
	for k, ok := range want {
		if got := taskInfo(t, b, "default", k).LastErr; !ok(got) {
			t.Errorf("stored error of %s = %.200q", k, got)
		}
	}
	waitFor(t, 10*time.Second, "ok completed", func() bool {
		info, err := b.inspector.GetTaskInfo("default", "ok")
		return err == nil && info.State == asynq.TaskStateCompleted
	})
	if n, ok := calls.Load(), okCalls.Load(); n != 3 || ok != 0 {
		t.Errorf("Sanitize called %d times for the failed attempts, want 3 (once each), and %d times for the job that succeeded, want 0", n, ok)
	}
}
