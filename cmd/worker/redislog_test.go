package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// checkJSONLogs fails the test unless every line the worker wrote, to
// stdout and stderr, is a JSON object, and returns how many carry
// component=redis.
func checkJSONLogs(t *testing.T, w *workertest.Worker) (redisLines int) {
	t.Helper()
	for name, text := range map[string]string{"stdout": w.Raw(), "stderr": w.Stderr()} {
		for line := range strings.SplitSeq(strings.TrimSpace(text), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Errorf("%s line is not JSON: %q", name, line)
				continue
			}
			if m["component"] == "redis" {
				redisLines++
				if m["level"] != "warn" {
					t.Errorf("redis line at level %v, want warn: %q", m["level"], line)
				}
			}
		}
	}
	return redisLines
}

// TestRedisUnreachableLogsJSON: with Redis unreachable from the start the
// worker fails, and says so in JSON only, go-redis's own lines included.
func TestRedisUnreachableLogsJSON(t *testing.T) {
	t.Parallel()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	w := workertest.StartNoWait(t, nil, []string{fmt.Sprintf("REDIS_URL=redis://127.0.0.1:%d", port)})
	if code := w.Wait(30 * time.Second); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if n := checkJSONLogs(t, w); n > 3 {
		t.Errorf("%d redis lines, want at most 3", n)
	}
	if len(w.Lines("worker.failed")) != 1 {
		t.Errorf("no worker.failed line:\n%s", w.Raw())
	}
}

// TestRedisOutageLogsFew: when Redis goes away under a running worker,
// go-redis's dial failures come out as a few JSON lines, not one per dial.
func TestRedisOutageLogsFew(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	w := workertest.Start(t, srv, nil)
	srv.Kill()
	time.Sleep(6 * time.Second)
	w.Kill()
	n := checkJSONLogs(t, w)
	if n == 0 || n > 4 {
		t.Errorf("%d redis lines in a 6s outage, want 1 to 4 (the first 3, then one per 10s)", n)
	}
}
