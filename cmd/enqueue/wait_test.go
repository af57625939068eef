package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// TestWaitSaysSkipped: with the worker binary running, --wait on a job
// whose dedupe key already ran says "skipped", not "completed" (the task
// does complete, without running: exit 0), in text and in JSON.
func TestWaitSaysSkipped(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	workertest.Start(t, srv, nil)
	env := []string{"REDIS_URL=" + srv.URL()}
	code, out, errOut := runCmd(t, env, "--wait", "demo.sleep", `{"ms":1,"dedupe":"order-7"}`)
	if code != 0 || !strings.Contains(out, "\ncompleted ") {
		t.Fatalf("first: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = runCmd(t, env, "--wait", "demo.sleep", `{"ms":1,"dedupe":"order-7"}`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[1], "skipped ") ||
		!strings.HasSuffix(lines[1], "(duplicate_done: a job with the same dedupe key already ran; this task completed without running)") {
		t.Fatalf("duplicate: exit %d, stdout %q, stderr %q; want a skipped line", code, out, errOut)
	}
	code, out, errOut = runCmd(t, env, "--wait", "--output", "json", "demo.sleep", `{"ms":1,"dedupe":"order-7"}`)
	var j struct{ State, Skipped string }
	if err := json.Unmarshal([]byte(out), &j); code != 0 || err != nil || j.State != "completed" || j.Skipped != "duplicate_done" {
		t.Fatalf("duplicate, JSON: exit %d, stdout %q (%v), stderr %q", code, out, err, errOut)
	}
}
