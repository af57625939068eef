package runner_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/runner"
	"github.com/jobrunner/jobrunner/schedule"
)

// TestTickDedupeKeyScopedToTheTick: the ticks of a schedule carry the same
// fixed payload, so a dedupe key derived from it is the same at every
// tick. Each tick must run (a nightly job runs every night), while a
// duplicate of one tick (a copy with the tick's ID as its origin) is still
// skipped, and says so: schedule.tick_skipped at warn and
// jobrunner_schedule_ticks_skipped_total. A task that only carries a
// tick's headers is not a tick: its key is not scoped.
func TestTickDedupeKeyScopedToTheTick(t *testing.T) {
	r, b := harness(t, runner.Config{DuplicateDelay: 100 * time.Millisecond})
	c := &counter{runs: map[string]int{}}
	if err := r.Register(dedupeDefinition(c)); err != nil {
		t.Fatal(err)
	}
	if err := r.Schedule(schedule.Schedule{Name: "nightly", Spec: "@daily", Type: "dedupe.me", Payload: []byte(`{"key":"report"}`)}); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	payload := []byte(`{"key":"report"}`)
	night := func(n int) time.Time { return time.Date(2026, 1, n, 0, 0, 0, 0, time.UTC) }
	enqueue := func(id string, tick time.Time, extra map[string]string) {
		t.Helper()
		h := map[string]string{runner.HeaderSchedule: "nightly", runner.HeaderTick: tick.Format(time.RFC3339)}
		for k, v := range extra {
			h[k] = v
		}
		if _, err := b.client.Enqueue(asynq.NewTaskWithHeaders("dedupe.me", payload, h), asynq.TaskID(id), asynq.Retention(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	completed := func(n int) func() bool {
		return func() bool {
			q, _ := b.inspector.GetQueueInfo("default")
			return q != nil && q.Completed == n
		}
	}
	for i := 1; i <= 3; i++ {
		enqueue(schedule.TaskID("nightly", night(i)), night(i), nil)
		waitFor(t, 10*time.Second, "tick settled", completed(i))
	}
	if n := c.get("report"); n != 3 {
		t.Fatalf("3 ticks with one dedupe key ran %d times, want 3", n)
	}
	if s := b.logs.Events("job.skipped"); len(s) != 0 {
		t.Fatalf("ticks skipped: %v", s)
	}

	// A copy of night 2's tick (what a deferral on the last attempt or a
	// drain's hand-over enqueues) is a duplicate of a tick that ran.
	id2 := schedule.TaskID("nightly", night(2))
	enqueue(id2+"~1", night(2), map[string]string{runner.HeaderOrigin: id2})
	waitFor(t, 10*time.Second, "copy settled", completed(4))
	if n := c.get("report"); n != 3 {
		t.Fatalf("the copy of a tick that ran ran again (%d runs)", n)
	}
	warn := b.logs.Events("schedule.tick_skipped")
	if len(warn) != 1 || warn[0]["level"] != "warn" || warn[0]["schedule"] != "nightly" ||
		warn[0]["tick"] != "2026-01-02T00:00:00Z" || warn[0]["reason"] != "duplicate_done" || warn[0]["task_id"] != id2+"~1" {
		t.Fatalf("schedule.tick_skipped lines = %v", warn)
	}
	body := metricsBody(t, r)
	for _, want := range []string{
		`jobrunner_schedule_ticks_skipped_total{reason="duplicate_done",schedule="nightly"} 1`,
		`jobrunner_schedule_ticks_skipped_total{reason="missed",schedule="nightly"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(body, "ticks_skipped"))
		}
	}

	// Headers alone do not make a tick: this task's key is the plain one,
	// which no run recorded, so it runs; a second one is then skipped
	// without a schedule.tick_skipped line.
	enqueue("forged-1", night(9), nil)
	waitFor(t, 10*time.Second, "forged settled", completed(5))
	enqueue("forged-2", night(9), nil)
	waitFor(t, 10*time.Second, "forged duplicate settled", completed(6))
	if n := c.get("report"); n != 4 {
		t.Fatalf("%d runs, want 4", n)
	}
	if got := len(b.logs.Events("schedule.tick_skipped")); got != 1 {
		t.Fatalf("%d schedule.tick_skipped lines, want 1", got)
	}
}
