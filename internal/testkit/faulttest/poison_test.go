package faulttest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/job/builtin"
)

// TestPoison feeds one worker poison: undecodable and invalid payloads,
// an unknown type, a panicking handler, a handler that outlives its
// timeout and 2 MiB payloads. Each ends archived with a clear error (or,
// for a well-formed large payload, completes; for an unknown type, waits
// for a worker that knows it without spending attempts), the worker never
// crashes, and a good job enqueued after all of them completes.
func TestPoison(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	w := e.startRunner("w", 4)

	big := strings.Repeat("x", 2<<20)
	bigSleep, _ := json.Marshal(map[string]any{"ms": 1, "pad": big})
	bigWork, _ := json.Marshal(WorkPayload{ID: "big-ok", Pad: big})
	cases := []struct {
		id, typ string
		payload []byte
		opts    []asynq.Option
		// archived with an error containing errs, or completed when errs
		// is empty
		errs []string
	}{
		{"not-json", WorkType, []byte(`{"id":`), nil, []string{"invalid payload", "not valid JSON"}},
		{"unknown-field", WorkType, []byte(`{"id":"u","bogus":1}`), nil, []string{"invalid payload", `"bogus"`, "unknown field"}},
		{"invalid-value", WorkType, []byte(`{"id":"v","ms":-5}`), nil, []string{"invalid payload", `"ms"`, "must be >= 0"}},
		{"wrong-type", builtin.SleepType, []byte(`{"ms":"soon"}`), nil, []string{"invalid payload", `"ms"`}},
		{"empty", builtin.SleepType, nil, nil, []string{"invalid payload", "empty"}},
		{"panics", WorkType, mustJSON(WorkPayload{ID: "panics", Fail: "panic"}), []asynq.Option{asynq.MaxRetry(1)}, []string{"panic", "panicking as asked"}},
		{"permanent", WorkType, mustJSON(WorkPayload{ID: "permanent", Fail: "permanent"}), nil, []string{"permanent failure as asked"}},
		{"too-slow", WorkType, mustJSON(WorkPayload{ID: "too-slow", MS: 10000}), []asynq.Option{asynq.Timeout(time.Second), asynq.MaxRetry(0)}, []string{"deadline exceeded"}},
		{"big-garbage", builtin.SleepType, append([]byte("\x00\xff"), big...), nil, []string{"invalid payload"}},
		{"big-unknown-field", builtin.SleepType, bigSleep, nil, []string{"invalid payload", `"pad"`}},
		{"big-ok", WorkType, bigWork, nil, nil},
	}
	for _, c := range cases {
		e.enqueueRaw(c.typ, c.id, c.payload, c.opts...)
	}
	e.enqueueRaw("fault.nope", "unknown-type", []byte(`{}`), asynq.MaxRetry(1))
	for _, c := range cases {
		want := asynq.TaskStateArchived
		if len(c.errs) == 0 {
			want = asynq.TaskStateCompleted
		}
		var info *asynq.TaskInfo
		waitFor(t, 30*time.Second, c.id+" to be "+want.String(), func() bool {
			var err error
			info, err = e.inspector.GetTaskInfo("default", c.id)
			return err == nil && info.State == want
		}, func() string { return info.State.String() + ": " + info.LastErr })
		for _, s := range c.errs {
			if !strings.Contains(info.LastErr, s) {
				t.Errorf("%s: archived with %q; want it to mention %q", c.id, info.LastErr, s)
			}
		}
		t.Logf("%s: %s after %d retries: %.120s", c.id, info.State, info.Retried, info.LastErr)
	}
	// An unknown type waits for a worker that knows it, spending nothing.
	var info *asynq.TaskInfo
	waitFor(t, 10*time.Second, "unknown-type to be deferred", func() bool {
		var err error
		info, err = e.inspector.GetTaskInfo("default", "unknown-type")
		return err == nil && info.State == asynq.TaskStateRetry
	}, func() string { return info.State.String() + ": " + info.LastErr })
	if info.Retried != 0 || !strings.Contains(info.LastErr, `no handler registered for task type "fault.nope"`) {
		t.Errorf("unknown-type: retried %d, last error %q; want a deferral that spent no attempt", info.Retried, info.LastErr)
	}
	// Payload errors are archived at once, not retried.
	for _, id := range []string{"not-json", "unknown-field", "invalid-value", "wrong-type", "empty", "big-garbage", "big-unknown-field", "permanent"} {
		if info, _ := e.inspector.GetTaskInfo("default", id); info.Retried != 0 {
			t.Errorf("%s was retried %d times; a permanent error must archive at once", id, info.Retried)
		}
	}
	if got := e.counts((*Ledger).Attempts)["panics"]; got != 2 {
		t.Errorf("panicking job ran %d times with MaxRetry 1, want 2", got)
	}
	if len(w.logs.events("job.failed")) == 0 {
		t.Error("no job.failed log lines")
	}
	for _, l := range w.logs.events("job.failed") {
		if l.Str("reason") == "panic" && l.Str("stack") == "" {
			t.Errorf("a panic was logged without its stack: %v", l)
		}
	}

	// The worker still serves.
	e.enqueue(WorkPayload{ID: "good", MS: 10})
	waitFor(t, 10*time.Second, "a good job after the poison", func() bool { return e.counts((*Ledger).Done)["good"] == 1 })
	if code := w.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d after the poison, want 200", code)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
