package runner_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/runner"
	"github.com/jobrunner/jobrunner/schedule"
)

type pingArgs struct {
	Note string `json:"note"`
}

func (p pingArgs) Validate() error {
	if p.Note == "" {
		return job.FieldError("note", "is required")
	}
	return nil
}

// TestScheduleRunsAndDrainStopsIt runs a 1s schedule on a started runner:
// ticks are enqueued and run under their tick task IDs, the last tick is a
// metric, and a drain stops enqueuing before anything else.
func TestScheduleRunsAndDrainStopsIt(t *testing.T) {
	r, b := harness(t, runner.Config{})
	var mu sync.Mutex
	var ran []string
	ping := &job.Definition[pingArgs]{Type: "ping", Handle: func(ctx context.Context, _ pingArgs) error {
		return nil
	}}
	r.Use(func(next runner.HandlerFunc) runner.HandlerFunc {
		return func(ctx context.Context, a *runner.Attempt) error {
			mu.Lock()
			ran = append(ran, a.TaskID+" "+a.Task.Headers()[runner.HeaderTick])
			mu.Unlock()
			return next(ctx, a)
		}
	})
	if err := r.Register(ping); err != nil {
		t.Fatal(err)
	}
	s, err := schedule.For(ping, "@every 1s", pingArgs{Note: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	s.Name = "ping"
	if err := r.Schedule(s); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "two ticks to run", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ran) >= 2
	})
	mu.Lock()
	for _, line := range ran {
		id, tick, _ := strings.Cut(line, " ")
		if id != "schedule:ping:"+tick {
			t.Errorf("tick task %q carries tick header %q", id, tick)
		}
	}
	mu.Unlock()
	if m := grepLines(metricsBody(t, r), `jobrunner_schedule_last_tick_timestamp_seconds{schedule="ping"}`); m == "" {
		t.Error("no last-tick metric for the schedule")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	n := len(b.logs.Events("schedule.enqueued"))
	time.Sleep(1200 * time.Millisecond)
	if m := len(b.logs.Events("schedule.enqueued")); m != n {
		t.Fatalf("%d ticks enqueued after the drain", m-n)
	}
	// The scheduler stops first thing: no tick enqueued after drain.started.
	drained := false
	for _, l := range b.logs.Events("") {
		switch l["event"] {
		case "drain.started":
			drained = true
		case "schedule.enqueued":
			if drained {
				t.Fatalf("tick %v enqueued after drain.started", l["tick"])
			}
		}
	}
}

func TestScheduleErrors(t *testing.T) {
	r, _ := harness(t, runner.Config{})
	ping := &job.Definition[pingArgs]{Type: "ping", Handle: func(context.Context, pingArgs) error { return nil }}
	if err := r.Schedule(schedule.Schedule{Spec: "@hourly", Type: "ping", Payload: []byte(`{"note":"x"}`)}); err == nil ||
		!strings.Contains(err.Error(), `job type "ping" is not registered`) {
		t.Fatalf("schedule before Register: %v", err)
	}
	if err := r.Register(ping); err != nil {
		t.Fatal(err)
	}
	if err := r.Schedule(schedule.Schedule{Spec: "@hourly", Type: "ping", Payload: []byte(`{}`)}); err == nil ||
		!strings.Contains(err.Error(), `field "note": is required`) {
		t.Fatalf("invalid payload: %v", err)
	}
	ok := schedule.Schedule{Spec: "@hourly", Type: "ping", Payload: []byte(`{"note":"x"}`)}
	if err := r.Schedule(ok); err != nil {
		t.Fatal(err)
	}
	if err := r.Schedule(ok); err == nil || !strings.Contains(err.Error(), "declared twice") {
		t.Fatalf("the same schedule twice: %v", err)
	}
	start(t, r)
	if err := r.Schedule(schedule.Schedule{Spec: "@daily", Type: "ping", Payload: []byte(`{"note":"y"}`)}); err == nil {
		t.Fatal("Schedule after Start succeeded")
	}
}
