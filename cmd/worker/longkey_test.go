package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// TestLongKeysAreCappedInLogs: dedupe keys come from payloads; a 300 KB
// key was logged whole in every deferral of a duplicate. Logged keys are cut
// to 200 bytes, with the key's length (lock keys too, and lockstore's error
// texts: see lockstore's TestErrorsCapLongKeys).
func TestLongKeysAreCappedInLogs(t *testing.T) {
	srv := redistest.Start(t)
	w := workertest.Start(t, srv, []string{"WORKER_CONCURRENCY=4"})
	client := asynq.NewClientFromRedisClient(srv.Client())
	t.Cleanup(func() { _ = client.Close() })
	long := strings.Repeat("x", 300_000)
	p, _ := json.Marshal(map[string]any{"ms": 1500, "dedupe": long})
	for range 2 {
		if _, err := client.Enqueue(asynq.NewTask("demo.sleep", p)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{"duplicate_in_flight": "dedupe_key"}
	seen := map[string]bool{}
	_, ok := w.WaitFor(20*time.Second, func(l workertest.Line) bool {
		if l.Str("event") == "job.deferred" {
			if field, ok := want[l.Str("reason")]; ok {
				key := l.Str(field)
				if !strings.HasSuffix(key, "…(300011 bytes)") || len(key) > 300 {
					t.Errorf("%s: %s of %d bytes: %.80q…", l.Str("reason"), field, len(key), key)
				}
				seen[l.Str("reason")] = true
			}
		}
		return len(seen) == len(want)
	})
	if !ok {
		t.Fatalf("deferrals seen: %v", seen)
	}
	for _, l := range strings.Split(w.Raw(), "\n") {
		if len(l) > 4<<10 {
			t.Errorf("a log line of %d bytes: %.200s…", len(l), l)
		}
	}
}
