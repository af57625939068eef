package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

func TestConfigSchedules(t *testing.T) {
	c, err := loadConfig(nil, env(map[string]string{"WORKER_SCHEDULES": `
# every five minutes
*/5 * * * * demo.sleep {"ms":10}
@every 30s demo.sleep {} name=beat catch_up=2 no_overlap
`}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Schedules) != 2 {
		t.Fatalf("%d schedules, want 2", len(c.Schedules))
	}
	if s := c.Schedules[1]; s.Name != "beat" || s.Spec != "@every 30s" || s.Type != "demo.sleep" || s.CatchUp != 2 || !s.NoOverlap {
		t.Fatalf("schedule %+v", s)
	}
	c, err = loadConfig([]string{"-schedules", "@hourly demo.sleep {}"}, env(map[string]string{"WORKER_SCHEDULES": "bad"}), &bytes.Buffer{})
	if err != nil || len(c.Schedules) != 1 {
		t.Fatalf("-schedules over WORKER_SCHEDULES: %v, %+v", err, c.Schedules)
	}
}

func TestConfigSchedulesExit2(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{nil, map[string]string{"WORKER_SCHEDULES": "@hourly demo.sleep {}\n*/5 * * demo.sleep {}"},
			`worker: WORKER_SCHEDULES line 2 "*/5 * * demo.sleep {}": cron spec "*/5 * *": want 5 fields (minute hour day-of-month month day-of-week) before the type, got 3`},
		{nil, map[string]string{"WORKER_SCHEDULES": `@every 1s demo.sleep {"ms":-1}`},
			`worker: WORKER_SCHEDULES line 1 "@every 1s demo.sleep {\"ms\":-1}": job demo.sleep: invalid payload: field "ms": `},
		{nil, map[string]string{"WORKER_SCHEDULES": `@every 1s demo.sleep {"ms":1,"nope":2}`},
			`worker: WORKER_SCHEDULES line 1 "@every 1s demo.sleep {\"ms\":1,\"nope\":2}": job demo.sleep: invalid payload: field "nope": unknown field`},
		{nil, map[string]string{"WORKER_SCHEDULES": `@hourly report.nightly {}`},
			`worker: WORKER_SCHEDULES line 1 "@hourly report.nightly {}": job type "report.nightly" is not registered (known: batch.report, demo.sleep, webhook.deliver)`},
		{nil, map[string]string{"WORKER_SCHEDULES": `@every 500ms demo.sleep {}`},
			`worker: WORKER_SCHEDULES line 1 "@every 500ms demo.sleep {}": cron spec "@every 500ms": want a whole number of seconds`},
		{nil, map[string]string{"WORKER_SCHEDULES": `CRON_TZ=Nowhere/Land 0 3 * * * demo.sleep {}`},
			`worker: WORKER_SCHEDULES line 1 "CRON_TZ=Nowhere/Land 0 3 * * * demo.sleep {}": time zone "Nowhere/Land"`},
		{nil, map[string]string{"WORKER_SCHEDULES": "@hourly demo.sleep {}\n@hourly demo.sleep {}"},
			`worker: WORKER_SCHEDULES line 2 "@hourly demo.sleep {}": schedule "demo.sleep-`},
		{[]string{"-schedules", "@hourly demo.sleep"}, nil,
			`worker: -schedules line 1 "@hourly demo.sleep": missing the JSON payload after the type (write {} for none)`},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(tt.args, env(tt.env), &out, &errOut, nil)
		if code != 2 {
			t.Errorf("%v %v: exit %d, want 2", tt.args, tt.env, code)
		}
		lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, tt.want) {
			t.Errorf("%v %v: stderr last line\n%s\nwant prefix\n%s", tt.args, tt.env, last, tt.want)
		}
	}
}

// TestSchedulesOncePerTickAcrossReplicas runs three worker processes with a
// 1s schedule for about 30s, through a rollout (one worker drains while a
// new one starts) and the drain of a second worker while the others run:
// every tick from the first to the last is enqueued exactly once and run
// exactly once, none missing, none doubled.
func TestSchedulesOncePerTickAcrossReplicas(t *testing.T) {
	srv := redistest.Start(t)
	env := []string{`WORKER_SCHEDULES=@every 1s demo.sleep {"ms":10} name=beat`, "WORKER_SHUTDOWN_TIMEOUT=5s"}
	var workers []*workertest.Worker
	for range 3 {
		workers = append(workers, workertest.Start(t, srv, env))
	}
	begin := time.Now()
	time.Sleep(10 * time.Second)
	// Rollout: a new worker starts while an old one drains.
	next := workertest.StartNoWait(t, srv, env)
	workers[0].Stop(20 * time.Second)
	next.WaitEvent("worker.started", 30*time.Second)
	workers = append(workers, next)
	time.Sleep(10 * time.Second)
	// A drain while the others keep running.
	workers[1].Stop(20 * time.Second)
	time.Sleep(10 * time.Second)
	end := time.Now()
	for _, w := range workers[2:] {
		w.Stop(20 * time.Second)
	}

	enqueued, done := map[string]int{}, map[string]int{}
	for _, w := range workers {
		for _, l := range w.Lines("schedule.enqueued") {
			enqueued[l.Str("tick")]++
		}
		for _, l := range w.Lines("job.done") {
			done[l.Str("task_id")]++
		}
		for _, ev := range []string{"schedule.skipped", "schedule.failed"} {
			if ls := w.Lines(ev); len(ls) > 0 {
				t.Errorf("%s: %v", ev, ls)
			}
		}
	}
	var first time.Time
	for tick := range enqueued {
		at, err := time.Parse(time.RFC3339, tick)
		if err != nil {
			t.Fatalf("tick %q: %v", tick, err)
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	if first.IsZero() || first.After(begin.Add(2*time.Second)) {
		t.Fatalf("first tick %v, workers started by %v", first, begin)
	}
	// Ticks in the last two seconds may not have run before the stop.
	n := 0
	for at := first; at.Before(end.Add(-2 * time.Second)); at = at.Add(time.Second) {
		tick := at.UTC().Format(time.RFC3339)
		if enqueued[tick] != 1 || done["schedule:beat:"+tick] != 1 {
			t.Errorf("tick %s: enqueued %d times, done %d times; want exactly once", tick, enqueued[tick], done["schedule:beat:"+tick])
		}
		n++
	}
	if n < 25 {
		t.Fatalf("only %d ticks checked", n)
	}
	t.Logf("%d ticks, each enqueued and run exactly once, across %d workers", n, len(workers))
}

// TestScheduledDedupeKeyRunsEveryTick is the newcomer's report: two
// workers with `@every 1s demo.sleep {"ms":1,"dedupe":"nightly"}` ran the
// first tick and skipped every later one for the dedupe window (24h),
// silently. A tick is a new run: every tick runs exactly once, nothing is
// skipped. A duplicate of a tick that ran (a copy carrying the tick's ID as
// its origin) is still skipped, and that shows: schedule.tick_skipped at
// warn and jobrunner_schedule_ticks_skipped_total.
func TestScheduledDedupeKeyRunsEveryTick(t *testing.T) {
	srv := redistest.Start(t)
	env := []string{`WORKER_SCHEDULES=@every 1s demo.sleep {"ms":1,"dedupe":"nightly"} name=nightly`, "WORKER_SHUTDOWN_TIMEOUT=5s"}
	workers := []*workertest.Worker{workertest.Start(t, srv, env), workertest.Start(t, srv, env)}
	begin := time.Now()
	time.Sleep(7 * time.Second)

	// A copy of a tick that ran, as a drain's hand-over would enqueue it.
	ran := workers[0].Lines("job.done")
	if len(ran) == 0 {
		ran = workers[1].Lines("job.done")
	}
	if len(ran) == 0 {
		t.Fatal("no tick ran in 7s")
	}
	origin := ran[0].Str("task_id")
	tick := strings.TrimPrefix(origin, "schedule:nightly:")
	client := asynq.NewClientFromRedisClient(srv.Client())
	t.Cleanup(func() { _ = client.Close() })
	copyTask := asynq.NewTaskWithHeaders("demo.sleep", []byte(`{"ms":1,"dedupe":"nightly"}`), map[string]string{
		"jobrunner-schedule": "nightly", "jobrunner-tick": tick, "jobrunner-origin": origin})
	if _, err := client.Enqueue(copyTask, asynq.TaskID(origin+"~1")); err != nil {
		t.Fatal(err)
	}
	var skippedOn *workertest.Worker
	deadline := time.Now().Add(10 * time.Second)
	for skippedOn == nil && time.Now().Before(deadline) {
		for _, w := range workers {
			if len(w.Lines("schedule.tick_skipped")) > 0 {
				skippedOn = w
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if skippedOn == nil {
		t.Fatal("the copy of a tick that ran logged no schedule.tick_skipped")
	}
	if l := skippedOn.Lines("schedule.tick_skipped")[0]; l.Str("level") != "warn" || l.Str("schedule") != "nightly" ||
		l.Str("tick") != tick || l.Str("reason") != "duplicate_done" || l.Str("task_id") != origin+"~1" {
		t.Fatalf("schedule.tick_skipped = %v", l)
	}
	if _, body := skippedOn.Get("/metrics"); !strings.Contains(body, `jobrunner_schedule_ticks_skipped_total{reason="duplicate_done",schedule="nightly"} 1`) {
		t.Fatalf("/metrics lacks the skipped tick:\n%s", body)
	}
	end := time.Now()
	for _, w := range workers {
		w.Stop(20 * time.Second)
	}

	done := map[string]int{}
	skipped := 0
	for _, w := range workers {
		for _, l := range w.Lines("job.done") {
			done[l.Str("task_id")]++
		}
		for _, l := range w.Lines("job.skipped") {
			if l.Str("task_id") != origin+"~1" {
				skipped++
				t.Errorf("tick skipped: %v", l)
			}
		}
	}
	n := 0
	for at := begin.Truncate(time.Second).Add(time.Second); at.Before(end.Add(-2 * time.Second)); at = at.Add(time.Second) {
		id := "schedule:nightly:" + at.UTC().Format(time.RFC3339)
		if done[id] != 1 {
			t.Errorf("tick %s ran %d times, want once", id, done[id])
		}
		n++
	}
	if n < 4 {
		t.Fatalf("only %d ticks checked", n)
	}
	t.Logf("%d ticks with one dedupe key, each run once across 2 workers; %d skipped", n, skipped)
}
