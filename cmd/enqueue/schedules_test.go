package main

import (
	"strings"
	"testing"
)

// TestSchedules lists WORKER_SCHEDULES from the command's environment,
// checked by the built-in definitions as the worker checks them, without
// a Redis.
func TestSchedules(t *testing.T) {
	t.Parallel()
	env := []string{"REDIS_URL=redis://127.0.0.1:1", `WORKER_SCHEDULES=@every 30s demo.sleep {"ms":10} name=beat
@hourly webhook.deliver {"url":"https://example.com/ping"}`}
	code, out, errOut := runCmd(t, env, "--schedules")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, "beat ") || !strings.Contains(out, "webhook.deliver-") {
		t.Fatalf("stdout:\n%s", out)
	}
	env = append(env, `WORKER_SCHEDULES=@hourly demo.sleep {"ms":"ten"}`)
	code, _, errOut = runCmd(t, env, "--schedules")
	if code != 2 || !strings.HasPrefix(errOut, `enqueue: WORKER_SCHEDULES line 1 "@hourly demo.sleep {\"ms\":\"ten\"}": job demo.sleep: invalid payload: field "ms"`) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
