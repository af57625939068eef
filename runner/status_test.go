package runner_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/batchdb"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
	"github.com/jobrunner/jobrunner/runner"
	"github.com/jobrunner/jobrunner/schedule"
)

// Secrets the jobs of the status tests carry: no page may show them.
const (
	statusPayloadSecret = "4111-1111-payload-secret"
	statusHeaderSecret  = "Bearer header-secret-0815"
)

type statusPayload struct {
	ID   string `json:"id"`
	Card string `json:"card"`
}

// statusDoc is what the tests read of /status.json.
type statusDoc struct {
	GeneratedAt string `json:"generated_at"`
	Replica     struct {
		Ready bool     `json:"ready"`
		Types []string `json:"types"`
	} `json:"replica"`
	InFlight []struct {
		TaskID                      string `json:"task_id"`
		Type, Queue, Started, Phase string
		Attempt                     int
		LockKey                     string `json:"lock_key"`
		Fence                       int64  `json:"fence"`
		DedupeKey                   string `json:"dedupe_key"`
		RunningMS                   int64  `json:"running_ms"`
		Progress                    *struct{ Done, Total int }
	} `json:"in_flight"`
	Breakers []struct {
		Dependency, Scope, State string
		Failures                 int
		RetryInMS                int64 `json:"retry_in_ms"`
	} `json:"breakers"`
	Limits []struct {
		Dependency  string
		Concurrency *struct {
			Limit, Waiting int
			InUse          int `json:"in_use"`
			Holders        []struct {
				TaskID string `json:"task_id"`
				Queue  string
			}
		}
	} `json:"limits"`
	Schedules []struct {
		Name     string
		NextTick string `json:"next_tick"`
	} `json:"schedules"`
	Deferred struct {
		Total    int
		ByReason []struct {
			Reason, Queue string
			Count         int
			OldestAgeMS   int64 `json:"oldest_age_ms"`
		} `json:"by_reason"`
	} `json:"deferred"`
	Batches struct {
		InProgress []struct {
			ID                    string
			Total, Done, Archived int
			Closed                bool
			Callback              string
		} `json:"in_progress"`
	} `json:"batches"`
	Errors []struct{ Section, Error string } `json:"errors"`
}

func getStatus(t *testing.T, r *runner.Runner, path string) (string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if rec.Code != 200 {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
	}
	return rec.Body.String(), rec.Header().Get("Content-Type")
}

// TestStatusExplainsWhyJobsWait: with a shared breaker open, a concurrency
// limit full, a job holding a lock and a dedupe key, and a schedule, the
// status of a running worker names each of them (the breaker open with its
// retry time, the slot's holder, the jobs deferred by reason, the job in
// flight with its lock, fence and dedupe key), as JSON and as a page, and
// shows no payload or header.
func TestStatusExplainsWhyJobsWait(t *testing.T) {
	r, b := harness(t, runner.Config{
		Concurrency: 4,
		Breakers: resilience.RegistryConfig{
			Shared:  []string{"pay.example"},
			Default: resilience.BreakerConfig{FailureThreshold: 1, OpenTimeout: time.Hour, OpenJitter: -1},
		},
		Limits:       map[string]runner.Limit{"slow.example": {Concurrency: 1}},
		RetryBackoff: func(int, error) time.Duration { return time.Hour },
	})
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	charge := &job.Definition[statusPayload]{
		Type:         "status.charge",
		Handle:       func(context.Context, statusPayload) error { return errors.New("card declined") },
		Dependencies: func(statusPayload) []string { return []string{"pay.example"} },
	}
	inHandler := make(chan struct{}, 2)
	slow := &job.Definition[statusPayload]{
		Type: "status.slow",
		Handle: func(ctx context.Context, _ statusPayload) error {
			inHandler <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil
		},
		DedupeKey:    func(p statusPayload) string { return p.ID },
		Lock:         func(p statusPayload) job.Lock { return job.Lock{Key: "account:" + p.ID} },
		Dependencies: func(statusPayload) []string { return []string{"slow.example"} },
	}
	if err := r.Register(charge, slow); err != nil {
		t.Fatal(err)
	}
	sched, err := schedule.For(slow, "@every 3600s", statusPayload{ID: "tick", Card: statusPayloadSecret})
	if err != nil {
		t.Fatal(err)
	}
	sched.Name = "hourly"
	if err := r.Schedule(sched); err != nil {
		t.Fatal(err)
	}
	start(t, r)

	// A batch in progress, whose callback's payload holds a secret: three
	// jobs, two of them counted.
	ctx := context.Background()
	bcb := batchdb.Callback{Type: "batch.report", Payload: []byte(`{"card":"` + statusPayloadSecret + `"}`), Queue: "default"}
	if err := batchdb.Open(ctx, b.rdb, "nightly-42", time.Hour, bcb, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := batchdb.Add(ctx, b.rdb, "nightly-42", []string{"j1", "j2", "j3"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"j1", "j2"} {
		if _, err := batchdb.Count(ctx, b.rdb, "nightly-42", m, "task-"+m, m == "j2"); err != nil {
			t.Fatal(err)
		}
	}

	enqueue := func(d *job.Definition[statusPayload], id string) {
		t.Helper()
		p, _ := json.Marshal(statusPayload{ID: id, Card: statusPayloadSecret})
		task := asynq.NewTaskWithHeaders(d.Type, p, map[string]string{"authorization": statusHeaderSecret}, asynq.TaskID(id))
		if _, err := b.client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
	}
	enqueue(charge, "c1") // fails: the shared breaker opens
	waitFor(t, 10*time.Second, "the breaker to open", func() bool { return len(b.logs.Events("breaker.transition")) > 0 })
	enqueue(charge, "c2")
	enqueue(charge, "c3")
	enqueue(slow, "s1")
	// s1 must hold the limit's slot before s2 comes: job.started is logged
	// before the limit layer takes it.
	select {
	case <-inHandler:
	case <-time.After(10 * time.Second):
		t.Fatal("s1 did not reach its handler")
	}
	enqueue(slow, "s2")
	waitFor(t, 10*time.Second, "3 deferrals", func() bool { return len(b.logs.Events("job.deferred")) >= 3 })

	// job.deferred is logged before asynq moves the task to its retry set,
	// and the fleet-wide part of the status is read at most every 500ms.
	var body, ctype string
	waitFor(t, 10*time.Second, "3 deferred jobs on the status", func() bool {
		body, ctype = getStatus(t, r, "/status.json")
		var doc statusDoc
		return json.Unmarshal([]byte(body), &doc) == nil && doc.Deferred.Total >= 3
	})
	if ctype != "application/json" {
		t.Errorf("Content-Type %q", ctype)
	}
	if strings.Contains(body, statusPayloadSecret) || strings.Contains(body, statusHeaderSecret) {
		t.Fatalf("/status.json shows a payload or a header:\n%s", body)
	}
	var doc statusDoc
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Errors) > 0 || !doc.Replica.Ready {
		t.Fatalf("errors %+v, ready %v", doc.Errors, doc.Replica.Ready)
	}
	if len(doc.InFlight) != 1 {
		t.Fatalf("in flight: %+v; want s1", doc.InFlight)
	}
	if f := doc.InFlight[0]; f.TaskID != "s1" || f.Type != "status.slow" || f.Queue != "default" || f.Attempt != 1 || f.Phase != "handler" ||
		f.LockKey != "account:s1" || f.Fence <= 0 || f.DedupeKey != "status.slow:s1" || f.Started == "" {
		t.Errorf("in flight: %+v", f)
	}
	var open bool
	for _, br := range doc.Breakers {
		if br.Dependency == "pay.example" && br.Scope == "shared" {
			open = br.State == "open" && br.RetryInMS > 59*60*1000
		}
	}
	if !open {
		t.Errorf("breakers %+v; want pay.example shared and open for about an hour", doc.Breakers)
	}
	if len(doc.Limits) != 1 || doc.Limits[0].Concurrency == nil || doc.Limits[0].Concurrency.InUse != 1 ||
		len(doc.Limits[0].Concurrency.Holders) != 1 || doc.Limits[0].Concurrency.Holders[0].TaskID != "s1" ||
		doc.Limits[0].Concurrency.Holders[0].Queue != "default" {
		t.Errorf("limits %+v; want slow.example held by s1", doc.Limits)
	}
	if len(doc.Schedules) != 1 || doc.Schedules[0].Name != "hourly" || doc.Schedules[0].NextTick == "" {
		t.Errorf("schedules %+v", doc.Schedules)
	}
	counts := map[string]int{}
	for _, g := range doc.Deferred.ByReason {
		counts[g.Reason+"/"+g.Queue] = g.Count
	}
	if doc.Deferred.Total != 3 || counts["breaker_open/default"] != 2 || counts["concurrency_limited/default"] != 1 {
		t.Errorf("deferred %+v; want 2 breaker_open and 1 concurrency_limited", doc.Deferred)
	}

	if bs := doc.Batches.InProgress; len(bs) != 1 || bs[0].ID != "nightly-42" || bs[0].Total != 3 || bs[0].Done != 2 ||
		bs[0].Archived != 1 || bs[0].Closed || bs[0].Callback != "batch.report" {
		t.Errorf("batches %+v; want nightly-42 open, 2 of 3 done", doc.Batches)
	}

	page, ctype := getStatus(t, r, "/status")
	if ctype != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ctype)
	}
	for _, want := range []string{
		`<meta http-equiv="refresh"`,
		"Breaker pay.example (shared) is open",
		"Limit slow.example is full: 1 of 1 slots held",
		"3 jobs deferred",
		"account:s1",
		"Batches in progress", "<code>nightly-42</code>", "2 / 3",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("/status lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, statusPayloadSecret) || strings.Contains(page, statusHeaderSecret) {
		t.Errorf("/status has a script, a payload or a header:\n%s", page)
	}
	if body := metricsBody(t, r); !strings.Contains(body, `jobrunner_dependency_concurrency_limit{dependency="slow.example"} 1`) {
		t.Errorf("metrics lack the concurrency cap:\n%s", grepLines(body, "concurrency_limit"))
	}
	releaseOnce.Do(func() { close(release) })
}

// TestStatusReadsRedisOncePerSecond: however many requests arrive at
// once or within statusReuse, Redis is read once; with Redis paused, a
// request answers within about a second with this replica's part and the
// parts it could not read named.
func TestStatusReadsRedisOncePerSecond(t *testing.T) {
	r, b := harness(t, runner.Config{Limits: map[string]runner.Limit{"x": {Concurrency: 2}}})
	start(t, r)
	before := redistest.ReadStats(t, b.rdb)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { getStatus(t, r, "/status.json") })
	}
	wg.Wait()
	after := redistest.ReadStats(t, b.rdb)
	if n := after.Calls["zrevrange"] - before.Calls["zrevrange"]; n != 2 {
		t.Errorf("20 requests read the breakers' and the batches' indexes %d times; want once each", n)
	}

	time.Sleep(1100 * time.Millisecond) // past statusReuse
	b.redis.Pause()
	defer b.redis.Resume()
	begin := time.Now()
	body, _ := getStatus(t, r, "/status.json")
	if took := time.Since(begin); took > 2*time.Second {
		t.Errorf("with Redis paused, /status.json took %v", took)
	}
	var doc statusDoc
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Errors) != 4 || doc.InFlight == nil { // batches, breakers, deferred, limits: no schedule is configured
		t.Errorf("with Redis paused: errors %+v, in flight %v; want every Redis part named and the replica's own part", doc.Errors, doc.InFlight)
	}
}

// TestStatusShowsProgress: a long job's last job.Progress shows in
// /status.json's in_flight, and nothing before it reports.
func TestStatusShowsProgress(t *testing.T) {
	t.Parallel()
	r, b := harness(t, runner.Config{})
	reported, release := make(chan struct{}), make(chan struct{})
	def := &job.Definition[greet]{
		Type:      "long.progress",
		DedupeKey: job.ByTaskID[greet],
		Handle: func(ctx context.Context, _ greet) error {
			job.Progress(ctx, 3, 10)
			close(reported)
			<-release
			return nil
		},
	}
	if err := r.Register(def); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	defer close(release)
	if _, err := def.Enqueue(context.Background(), b.client, greet{Name: "p"}); err != nil {
		t.Fatal(err)
	}
	<-reported
	body, _ := getStatus(t, r, "/status.json")
	var doc statusDoc
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.InFlight) != 1 || doc.InFlight[0].Progress == nil || doc.InFlight[0].Progress.Done != 3 || doc.InFlight[0].Progress.Total != 10 {
		t.Fatalf("in_flight = %+v, want one job at 3 of 10", doc.InFlight)
	}
}
