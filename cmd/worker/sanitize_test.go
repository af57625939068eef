package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/testkit/otlptest"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// TestWorkerBlanksItsOwnSecrets runs the worker and enqueue binaries as an
// operator does, with a password in REDIS_URL and an API key in
// OTEL_EXPORTER_OTLP_HEADERS, and a webhook receiver whose error body
// echoes both and a JSON password. After a delivery failed twice and was
// archived, none of the three may appear in Redis, the worker's log, the
// exported spans or the output of enqueue --wait, while the status code
// and the receiver's host stay readable.
func TestWorkerBlanksItsOwnSecrets(t *testing.T) {
	srv := redistest.Start(t)
	if srv.Embedded {
		t.Skip("needs redis-server for requirepass")
	}
	const redisPW, otlpKey, jsonPW = "Wk-r3dis-pa55-71c9", "otlp-k3y-4e8d20", "json-pa55-93ab"
	ctx := context.Background()
	if err := srv.Client().ConfigSet(ctx, "requirepass", redisPW).Err(); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: redisPW})
	t.Cleanup(func() { rdb.Close() })
	redisURL := "redis://:" + redisPW + "@" + srv.Addr

	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"error":"boom","debug":"connected with %s, exporting with %s","password":%q}`, redisPW, otlpKey, jsonPW)
	}))
	t.Cleanup(receiver.Close)
	collector := otlptest.NewServer(t)
	otlpEnv := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + collector.URL, "OTEL_EXPORTER_OTLP_HEADERS=api-key=" + otlpKey}
	w := workertest.Start(t, nil, append([]string{"REDIS_URL=" + redisURL, "WORKER_RETRY_SCHEDULE=short"}, otlpEnv...))

	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, workertest.Build(t, "./cmd/enqueue"), "--wait", "--wait-timeout", "45s", "--max-retry", "1",
		"webhook.deliver", `{"url":"`+receiver.URL+`/hook","body":{"n":1}}`)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "REDIS_URL=" + redisURL, "GORACE=atexit_sleep_ms=0"}, otlpEnv...)
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 4 {
		t.Fatalf("enqueue --wait: exit %d (%v), want 4 (archived):\n%s", code, err, out)
	}
	host := strings.TrimPrefix(receiver.URL, "http://")
	if want := "webhook.deliver: POST http://" + host + ": status 500 Internal Server Error"; !strings.Contains(string(out), want) ||
		!strings.Contains(string(out), `"password":"[redacted]"`) {
		t.Errorf("enqueue --wait output lacks %q or the blanked password:\n%s", want, out)
	}
	w.Signal(syscall.SIGTERM) // flushes the spans
	if code := w.Wait(30 * time.Second); code != 0 {
		t.Fatalf("worker exit %d", code)
	}

	places := map[string]string{"enqueue --wait": string(out), "worker output": w.Raw() + w.Stderr()}
	var spans int
	for _, sp := range collector.Spans() {
		if sp.Name == "job webhook.deliver" {
			spans++
		}
		places["span "+sp.Name] += sp.String() + "\n"
	}
	if spans < 2 {
		t.Fatalf("%d webhook spans exported, want 2", spans)
	}
	dump := redistest.Dump(t, rdb)
	if len(dump) == 0 {
		t.Fatal("Redis holds no key")
	}
	for k, v := range dump {
		places["redis key "+k] = v
	}
	for where, text := range places {
		for _, s := range []string{redisPW, otlpKey, jsonPW} {
			if i := strings.Index(text, s); i >= 0 {
				t.Errorf("%s holds the secret %q: …%q…", where, s, text[max(0, i-120):min(len(text), i+40)])
			}
		}
	}
}
