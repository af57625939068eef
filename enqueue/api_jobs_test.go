package enqueue

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
)

// TestAPIEnqueue: POST /v1/jobs writes the task asynq's Client writes and
// answers 201 with its ID, queue and state and its Location; GET there
// reads it back pending.
func TestAPIEnqueue(t *testing.T) {
	t.Parallel()
	b := newAPIBundle(t, testSettings(), "")
	a := b.do(t, "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":"hi"},"options":{"max_retry":2}}`)
	if a.status != http.StatusCreated {
		t.Fatalf("answer %d: %s", a.status, a.body)
	}
	got := a.json(t)
	id, _ := got["task_id"].(string)
	if id == "" || got["queue"] != "default" || got["state"] != "pending" || a.header.Get("Location") != "/v1/jobs/default/"+id {
		t.Fatalf("answer %s, Location %q", a.body, a.header.Get("Location"))
	}
	info, err := b.inspector().GetTaskInfo("default", id)
	if err != nil || info.Type != echoType || string(info.Payload) != `{"msg":"hi"}` || info.MaxRetry != 2 {
		t.Fatalf("task %+v, %v", info, err)
	}
	g := b.do(t, "GET", "/v1/jobs/default/"+id, "")
	if j := g.json(t); g.status != http.StatusOK || j["state"] != "pending" || j["attempts"] != 0.0 || j["id"] != id {
		t.Fatalf("GET: %d %s", g.status, g.body)
	}
	scheduled := b.do(t, "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":"later"},"options":{"process_in":"1h"}}`)
	if scheduled.status != http.StatusCreated || scheduled.json(t)["state"] != "scheduled" {
		t.Fatalf("scheduled: %d %s", scheduled.status, scheduled.body)
	}
}

// TestAPIErrors: each error is a problem with the status the docs give
// and, for a validation error, the CLI's text and the field at fault.
func TestAPIErrors(t *testing.T) {
	t.Parallel()
	set := testSettings()
	set.maxPayload = 1000
	b := newAPIBundle(t, set, "")
	if a := b.do(t, "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":"x"},"options":{"task_id":"taken"}}`); a.status != http.StatusCreated {
		t.Fatalf("setup: %d %s", a.status, a.body)
	}
	if a := b.do(t, "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":"u"},"options":{"unique":"1h"}}`); a.status != http.StatusCreated {
		t.Fatalf("setup: %d %s", a.status, a.body)
	}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		slug, field, detail      string
	}{
		{"malformed JSON", "POST", "/v1/jobs", `{"type": "test.echo",`, 400, "malformed-json", "", ""},
		{"unknown type", "POST", "/v1/jobs", `{"type":"nope"}`, 404, "unknown-job-type", "", ""},
		{"invalid payload", "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":""}}`, 422, "invalid-payload", "payload.msg",
			`job test.echo: invalid payload: field "msg": is required`},
		{"unknown payload field", "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":"a","nope":1}}`, 422, "invalid-payload", "payload.nope", ""},
		{"bad option", "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":"a"},"options":{"timeout":"1500ms"}}`, 422, "invalid-request", "options.timeout", ""},
		{"unknown key", "POST", "/v1/jobs", `{"type":"test.echo","payloads":{}}`, 422, "invalid-request", "payloads", ""},
		{"missing type", "POST", "/v1/jobs", `{"payload":{}}`, 422, "invalid-request", "type", ""},
		{"not an object", "POST", "/v1/jobs", `[1]`, 422, "invalid-request", "", ""},
		{"task ID exists", "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":"y"},"options":{"task_id":"taken"}}`, 409, "task-exists", "", ""},
		{"unique duplicate", "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":"u"},"options":{"unique":"1h"}}`, 409, "duplicate-task", "", ""},
		{"payload over the limit", "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":"` + strings.Repeat("x", 1000) + `"}}`, 413, "payload-too-large", "", ""},
		{"body over the limit", "POST", "/v1/jobs", `{"type":"test.echo","payload":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "payload-too-large", "", ""},
		{"no task", "GET", "/v1/jobs/default/nope", "", 404, "task-not-found", "", ""},
		{"no route", "GET", "/v2/jobs", "", 404, "not-found", "", ""},
		{"wrong method", "GET", "/v1/jobs", "", 405, "method-not-allowed", "", ""},
		{"bad fail_fast", "POST", "/v1/jobs:bulk?fail_fast=maybe", `[]`, 422, "invalid-request", "fail_fast", ""},
		{"malformed array", "POST", "/v1/jobs:bulk", `[{"type":`, 400, "malformed-json", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := b.do(t, tc.method, tc.path, tc.body)
			p := a.json(t)
			if a.status != tc.status || p["status"] != float64(tc.status) || p["type"] != ProblemTypeBase+tc.slug ||
				a.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("answer %d %s, want %d %s", a.status, a.body, tc.status, tc.slug)
			}
			if tc.field != "" && p["field"] != tc.field {
				t.Errorf("field %v, want %s", p["field"], tc.field)
			}
			if tc.detail != "" && p["detail"] != tc.detail {
				t.Errorf("detail %q, want %q", p["detail"], tc.detail)
			}
		})
	}
	// The detail of a validation error is the CLI's error line.
	r := b.run(t, "", "--dry-run", echoType, `{"msg":"a","nope":1}`)
	a := b.do(t, "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":"a","nope":1}}`)
	if want := strings.TrimSuffix(strings.TrimPrefix(r.stderr, "enqueue: "), "\n"); a.json(t)["detail"] != want {
		t.Errorf("detail %q, the CLI says %q", a.json(t)["detail"], want)
	}
	if n := b.taskCount(t, "default"); n != 2 {
		t.Errorf("%d tasks after the errors, want the 2 of the setup", n)
	}
}

// TestAPIAuth: with tokens, the job routes want one of them as a bearer
// token (401 otherwise, with WWW-Authenticate); probes and the document do
// not.
func TestAPIAuth(t *testing.T) {
	t.Parallel()
	b := newAPIBundle(t, testSettings(), "0123456789abcdef-one, 0123456789abcdef-two")
	body := `{"type":"test.echo","payload":{"msg":"x"}}`
	for name, h := range map[string][]string{
		"no header":   {"Authorization", ""},
		"wrong token": {"Authorization", "Bearer 0123456789abcdef-six"},
		"prefix":      {"Authorization", "Bearer 0123456789abcdef"},
		"basic":       {"Authorization", "Basic MDEyMzQ1Njc4OWFiY2RlZi1vbmU="},
	} {
		a := b.do(t, "POST", "/v1/jobs", body, h...)
		if a.status != http.StatusUnauthorized || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") ||
			a.json(t)["type"] != ProblemTypeBase+"unauthorized" {
			t.Errorf("%s: %d %s", name, a.status, a.body)
		}
	}
	if a := b.do(t, "GET", "/v1/jobs/default/x", "", "Authorization", ""); a.status != http.StatusUnauthorized {
		t.Errorf("GET without token: %d", a.status)
	}
	if a := b.do(t, "POST", "/v1/jobs:bulk", "["+body+"]", "Authorization", ""); a.status != http.StatusUnauthorized {
		t.Errorf("bulk without token: %d", a.status)
	}
	if a := b.do(t, "POST", "/v1/jobs", body, "Authorization", "Bearer 0123456789abcdef-two"); a.status != http.StatusCreated {
		t.Errorf("second token: %d %s", a.status, a.body)
	}
	for _, path := range []string{"/healthz", "/readyz", "/v1/openapi.yaml"} {
		if a := b.do(t, "GET", path, "", "Authorization", ""); a.status != http.StatusOK {
			t.Errorf("%s without token: %d %s", path, a.status, a.body)
		}
	}
	if n := b.taskCount(t, "default"); n != 1 {
		t.Errorf("%d tasks, want 1", n)
	}
}

// TestAPIIdempotency: a retry with the same Idempotency-Key gets the first
// answer (200, same task ID, Idempotent-Replayed) and enqueues nothing; a
// reuse for another body is 422; keys are per caller; every key of ours
// has a TTL.
func TestAPIIdempotency(t *testing.T) {
	t.Parallel()
	b := newAPIBundle(t, testSettings(), "0123456789abcdef-one,0123456789abcdef-two")
	body := `{"type":"test.echo","payload":{"msg":"once"}}`
	first := b.do(t, "POST", "/v1/jobs", body, "Idempotency-Key", "k1")
	again := b.do(t, "POST", "/v1/jobs", body, "Idempotency-Key", "k1")
	if first.status != http.StatusCreated || again.status != http.StatusOK || again.header.Get("Idempotent-Replayed") != "true" ||
		first.json(t)["task_id"] != again.json(t)["task_id"] || again.header.Get("Location") != first.header.Get("Location") {
		t.Fatalf("first %d %s, again %d %s", first.status, first.body, again.status, again.body)
	}
	if a := b.do(t, "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":"other"}}`, "Idempotency-Key", "k1"); a.status != http.StatusUnprocessableEntity ||
		a.json(t)["type"] != ProblemTypeBase+"idempotency-key-reused" {
		t.Errorf("reuse with another body: %d %s", a.status, a.body)
	}
	other := b.do(t, "POST", "/v1/jobs", body, "Idempotency-Key", "k1", "Authorization", "Bearer 0123456789abcdef-two")
	if other.status != http.StatusCreated || other.json(t)["task_id"] == first.json(t)["task_id"] {
		t.Errorf("another caller's key: %d %s", other.status, other.body)
	}
	// A request refused is not stored: its retry, corrected or not, runs.
	if a := b.do(t, "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":""}}`, "Idempotency-Key", "k2"); a.status != http.StatusUnprocessableEntity {
		t.Errorf("invalid: %d", a.status)
	}
	if a := b.do(t, "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":""}}`, "Idempotency-Key", "k2"); a.status != http.StatusUnprocessableEntity ||
		a.json(t)["type"] != ProblemTypeBase+"invalid-payload" {
		t.Errorf("invalid, again: %d %s", a.status, a.body)
	}
	for _, k := range []string{" ", strings.Repeat("k", 256), "tab\there"} { // " " arrives empty
		if a := b.do(t, "POST", "/v1/jobs", body, "Idempotency-Key", k); a.status != http.StatusBadRequest ||
			a.json(t)["type"] != ProblemTypeBase+"invalid-idempotency-key" {
			t.Errorf("key %q: %d %s", k, a.status, a.body)
		}
	}
	if n := b.taskCount(t, "default"); n != 2 {
		t.Errorf("%d tasks, want 2 (one per caller)", n)
	}
	checkTTLs(t, b.rdb)
	ttl := b.rdb.PTTL(context.Background(), firstRecordKey(t, b)).Val()
	if ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("an answer's TTL is %v, want the idempotency TTL (1h here)", ttl)
	}
}

// firstRecordKey returns some idempotency record's key.
func firstRecordKey(t *testing.T, b *apiBundle) string {
	t.Helper()
	ks, err := b.rdb.Keys(context.Background(), IdempotencyKeyPrefix+"*").Result()
	if err != nil || len(ks) == 0 {
		t.Fatalf("no idempotency records: %v", err)
	}
	return ks[0]
}

// TestAPIIdempotencyConcurrent: many requests with one key at once enqueue
// one task; each gets the first answer or, while it runs, 409 with
// Retry-After.
func TestAPIIdempotencyConcurrent(t *testing.T) {
	t.Parallel()
	b := newAPIBundle(t, testSettings(), "")
	const n = 20
	body := `{"type":"test.echo","payload":{"msg":"race"}}`
	var (
		wg      sync.WaitGroup
		ids     sync.Map
		created atomic.Int64
	)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			a := b.do(t, "POST", "/v1/jobs", body, "Idempotency-Key", "same")
			switch a.status {
			case http.StatusCreated, http.StatusOK:
				if a.status == http.StatusCreated {
					created.Add(1)
				}
				ids.Store(a.json(t)["task_id"], true)
			case http.StatusConflict:
				if a.header.Get("Retry-After") == "" || a.json(t)["type"] != ProblemTypeBase+"idempotency-in-progress" {
					t.Errorf("409 %v %s", a.header, a.body)
				}
			default:
				t.Errorf("answer %d %s", a.status, a.body)
			}
		})
	}
	close(start)
	wg.Wait()
	distinct := 0
	ids.Range(func(any, any) bool { distinct++; return true })
	if created.Load() != 1 || distinct != 1 || b.taskCount(t, "default") != 1 {
		t.Fatalf("%d created, %d task IDs, %d tasks; want 1 each", created.Load(), distinct, b.taskCount(t, "default"))
	}
	checkTTLs(t, b.rdb)
}

// TestAPIIdempotencyInProgress: a retry while the first request still
// holds the key waits for its answer, then is 409 with Retry-After.
func TestAPIIdempotencyInProgress(t *testing.T) {
	t.Parallel()
	b := newAPIBundle(t, testSettings(), "")
	body := `{"type":"test.echo","payload":{"msg":"slow"}}`
	k := newIdemKey("local", "held", fingerprint("POST", "/v1/jobs", "", []byte(body)))
	if rec, err := b.api.idem.begin(context.Background(), k, time.Minute); rec != nil || err != nil {
		t.Fatalf("claim: %v %v", rec, err)
	}
	start := time.Now()
	a := b.do(t, "POST", "/v1/jobs", body, "Idempotency-Key", "held")
	if a.status != http.StatusConflict || a.header.Get("Retry-After") != "1" || time.Since(start) < idemWait/2 {
		t.Fatalf("answer %d %v after %v: %s", a.status, a.header, time.Since(start), a.body)
	}
	// The holder finishes: the retry gets its answer.
	if err := b.api.idem.finish(context.Background(), k, http.StatusCreated, []byte(`{"task_id":"t","queue":"default","state":"pending"}`), "/v1/jobs/default/t"); err != nil {
		t.Fatal(err)
	}
	if a := b.do(t, "POST", "/v1/jobs", body, "Idempotency-Key", "held"); a.status != http.StatusOK || a.json(t)["task_id"] != "t" {
		t.Fatalf("after the holder finished: %d %s", a.status, a.body)
	}
	bulk := "[" + body + "]"
	kb := newIdemKey("local", "held-bulk", fingerprint("POST", "/v1/jobs:bulk", "", []byte(bulk)))
	if rec, err := b.api.idem.begin(context.Background(), kb, time.Minute); rec != nil || err != nil {
		t.Fatalf("claim: %v %v", rec, err)
	}
	if a := b.do(t, "POST", "/v1/jobs:bulk", bulk, "Idempotency-Key", "held-bulk"); a.status != http.StatusConflict || a.header.Get("Retry-After") != "1" {
		t.Fatalf("bulk: %d %s", a.status, a.body)
	}
	if n := b.taskCount(t, "default"); n != 0 {
		t.Errorf("%d tasks, want none", n)
	}
}

// TestAPIIdempotencyLostAnswer: when the first attempt wrote the task but
// its answer was never stored (the server died in between), a retry finds
// the task by the ID derived from its key and answers it: one task.
func TestAPIIdempotencyLostAnswer(t *testing.T) {
	t.Parallel()
	b := newAPIBundle(t, testSettings(), "")
	for _, body := range []string{
		`{"type":"test.echo","payload":{"msg":"lost"}}`,
		`{"type":"test.echo","payload":{"msg":"lost"},"options":{"unique":"1h","queue":"q2"}}`,
	} {
		first := b.do(t, "POST", "/v1/jobs", body, "Idempotency-Key", body)
		if first.status != http.StatusCreated {
			t.Fatalf("first: %d %s", first.status, first.body)
		}
		b.rdb.Del(context.Background(), firstRecordKey(t, b)) // the answer is lost
		again := b.do(t, "POST", "/v1/jobs", body, "Idempotency-Key", body)
		if again.status != http.StatusOK || again.json(t)["task_id"] != first.json(t)["task_id"] {
			t.Fatalf("retry: %d %s; first %s", again.status, again.body, first.body)
		}
	}
	if n, m := b.taskCount(t, "default"), b.taskCount(t, "q2"); n != 1 || m != 1 {
		t.Fatalf("%d + %d tasks, want 1 + 1", n, m)
	}
}

// TestAPIBulk: a JSON array or JSON Lines gives the CLI's report, with
// line numbers and the CLI's texts, and the tasks written; fail_fast
// enqueues nothing when a line is invalid; too many jobs is 413.
func TestAPIBulk(t *testing.T) {
	t.Parallel()
	b := newAPIBundle(t, testSettings(), "")
	array := `[{"type":"test.echo","payload":{"msg":"a"}},{"type":"test.echo","payload":{}},{"type":"test.echo","payload":{"msg":"c"},"options":{"queue":"q2"}}]`
	a := b.do(t, "POST", "/v1/jobs:bulk", array)
	rep := a.json(t)
	if a.status != http.StatusOK || rep["valid"] != 2.0 || rep["enqueued"] != 2.0 || rep["invalid"] != 1.0 {
		t.Fatalf("array: %d %s", a.status, a.body)
	}
	inv := rep["invalid_lines"].([]any)[0].(map[string]any)
	if inv["line"] != 2.0 || inv["error"] != `job test.echo: invalid payload: field "msg": is required` {
		t.Errorf("invalid line %v", inv)
	}
	tasks := rep["tasks"].([]any)
	if len(tasks) != 2 || tasks[1].(map[string]any)["line"] != 3.0 || tasks[1].(map[string]any)["queue"] != "q2" {
		t.Errorf("tasks %v", tasks)
	}
	id := tasks[1].(map[string]any)["task_id"].(string)
	if info, err := b.inspector().GetTaskInfo("q2", id); err != nil || string(info.Payload) != `{"msg":"c"}` {
		t.Errorf("task %s: %+v %v", id, info, err)
	}

	lines := "{\"type\":\"test.echo\",\"payload\":{\"msg\":\"d\"}}\n\n{\"type\":\"nope\"}\r\n{\"type\":\"test.echo\",\"payload\":{\"msg\":\"e\"},\"options\":{\"task_id\":\"e\"}}\n"
	a = b.do(t, "POST", "/v1/jobs:bulk", lines, "Content-Type", "application/x-ndjson")
	rep = a.json(t)
	if a.status != http.StatusOK || rep["enqueued"] != 2.0 || rep["invalid_lines"].([]any)[0].(map[string]any)["line"] != 3.0 {
		t.Fatalf("JSON Lines: %d %s", a.status, a.body)
	}
	// The same again: the task ID exists, a duplicate in the report.
	a = b.do(t, "POST", "/v1/jobs:bulk", lines, "Content-Type", "application/x-ndjson")
	if rep = a.json(t); rep["duplicates"] != 1.0 || rep["duplicate_lines"].([]any)[0] != 4.0 {
		t.Fatalf("again: %d %s", a.status, a.body)
	}
	before := b.taskCount(t, "default")
	a = b.do(t, "POST", "/v1/jobs:bulk?fail_fast=true", array)
	if p := a.json(t); a.status != http.StatusUnprocessableEntity || p["invalid_lines"].([]any)[0].(map[string]any)["line"] != 2.0 {
		t.Fatalf("fail_fast: %d %s", a.status, a.body)
	}
	if n := b.taskCount(t, "default"); n != before {
		t.Errorf("fail_fast enqueued %d", n-before)
	}
	if a := b.do(t, "POST", "/v1/jobs:bulk", "[]"); a.status != http.StatusOK || a.json(t)["valid"] != 0.0 {
		t.Errorf("empty: %d %s", a.status, a.body)
	}
	many := "[" + strings.TrimSuffix(strings.Repeat(`{"type":"test.echo","payload":{"msg":"m"}},`, 101), ",") + "]"
	if a := b.do(t, "POST", "/v1/jobs:bulk", many); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("101 jobs: %d %s", a.status, a.body)
	}
	if a := b.do(t, "POST", "/v1/jobs:bulk", `"`+strings.Repeat("x", 1<<20)+`"`); a.status != http.StatusRequestEntityTooLarge {
		t.Errorf("body over the limit: %d", a.status)
	}
}

// TestAPIBulkIdempotency: a bulk retry with the same key replays the
// report; after a partial write whose answer was lost, a retry writes the
// rest, and every job exists once.
func TestAPIBulkIdempotency(t *testing.T) {
	t.Parallel()
	b := newAPIBundle(t, testSettings(), "")
	var jobs []string
	for i := range 10 {
		jobs = append(jobs, fmt.Sprintf(`{"type":"test.echo","payload":{"msg":"m%d"}}`, i))
	}
	body := "[" + strings.Join(jobs, ",") + "]"
	first := b.do(t, "POST", "/v1/jobs:bulk", body, "Idempotency-Key", "bulk")
	again := b.do(t, "POST", "/v1/jobs:bulk", body, "Idempotency-Key", "bulk")
	if first.status != http.StatusOK || again.status != http.StatusOK || again.header.Get("Idempotent-Replayed") != "true" ||
		string(first.body) != string(again.body) {
		t.Fatalf("first %d %s\nagain %d %s", first.status, first.body, again.status, again.body)
	}
	// Lose the answer and 4 of the 10 tasks, as if Redis failed after
	// the first 6: the retry writes the 4 and counts all 10.
	b.rdb.Del(context.Background(), firstRecordKey(t, b))
	for _, tk := range first.json(t)["tasks"].([]any)[6:] {
		id := tk.(map[string]any)["task_id"].(string)
		if _, err := b.rdb.Del(context.Background(), asynqdb.TaskKey("default", id)).Result(); err != nil {
			t.Fatal(err)
		}
		b.rdb.LRem(context.Background(), asynqdb.PendingKey("default"), 0, id)
	}
	retry := b.do(t, "POST", "/v1/jobs:bulk", body, "Idempotency-Key", "bulk")
	if rep := retry.json(t); retry.status != http.StatusOK || rep["enqueued"] != 10.0 || rep["duplicates"] != nil && rep["duplicates"] != 0.0 {
		t.Fatalf("retry: %d %s", retry.status, retry.body)
	}
	if n := b.taskCount(t, "default"); n != 10 {
		t.Fatalf("%d tasks, want 10", n)
	}
	if n := b.rdb.LLen(context.Background(), asynqdb.PendingKey("default")).Val(); n != 10 {
		t.Fatalf("%d pending, want 10", n)
	}
}

// TestAPIRedisDown: with Redis gone every route that needs it answers 503
// with Retry-After, fast; with Redis hanging, within the request timeout;
// when it is back, the API works again without a restart.
func TestAPIRedisDown(t *testing.T) {
	t.Parallel()
	b := newAPIBundle(t, testSettings(), "")
	body := `{"type":"test.echo","payload":{"msg":"x"}}`
	if a := b.do(t, "POST", "/v1/jobs", body); a.status != http.StatusCreated {
		t.Fatalf("before: %d %s", a.status, a.body)
	}
	check := func(what string, bound time.Duration) {
		t.Helper()
		for _, req := range [][3]string{
			{"POST", "/v1/jobs", body}, {"POST", "/v1/jobs:bulk", "[" + body + "]"}, {"GET", "/v1/jobs/default/x", ""},
			{"GET", "/readyz", ""}, {"POST", "/v1/jobs", body},
		} {
			start := time.Now()
			a := b.do(t, req[0], req[1], req[2], "Idempotency-Key", map[bool]string{true: "down", false: ""}[req[0] == "POST"])
			took := time.Since(start)
			if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") != "1" ||
				a.json(t)["type"] != ProblemTypeBase+"redis-unavailable" || took > bound {
				t.Errorf("%s: %s %s: %d %v after %v: %s", what, req[0], req[1], a.status, a.header.Get("Retry-After"), took, a.body)
			}
			if strings.Contains(string(a.body), "127.0.0.1") || strings.Contains(string(a.body), "connect") {
				t.Errorf("%s: the answer carries internals: %s", what, a.body)
			}
		}
	}
	b.srv.Pause()
	check("hanging", time.Second+500*time.Millisecond) // bulk: 1s
	b.srv.Resume()
	b.srv.Kill()
	check("down", 500*time.Millisecond)
	b.srv.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for {
		a := b.do(t, "POST", "/v1/jobs", body, "Idempotency-Key", "down")
		if a.status == http.StatusCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart: %d %s", a.status, a.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(b.logs.String(), `"event":"api.unavailable"`) {
		t.Errorf("no api.unavailable log line:\n%s", b.logs)
	}
}

// TestAPIGetJob: GET answers what --wait sees: completed with the result,
// archived with the last error sanitized and the attempts made.
func TestAPIGetJob(t *testing.T) {
	t.Parallel()
	b := newAPIBundle(t, testSettings(), "")
	b.api.cleanErr = errorSanitizer(Config{}, []string{"hunter2"})
	var done atomic.Int64
	startWorker(t, b.rdb, echoHandler(&done), "default")
	ok := b.do(t, "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":"hi","fail_once":true},"options":{"retention":"1h","max_retry":3}}`)
	bad := b.do(t, "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":"password=hunter2 token: hunter2","fail":true},"options":{"retention":"1h"}}`)
	wait := func(id, state string) map[string]any {
		t.Helper()
		for end := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			a := b.do(t, "GET", "/v1/jobs/default/"+id, "")
			if j := a.json(t); j["state"] == state || time.Now().After(end) {
				return j
			}
		}
	}
	j := wait(ok.json(t)["task_id"].(string), "completed")
	if j["result"] != "echo: hi" || j["attempts"] != 2.0 || j["retried"] != 1.0 || j["completed_at"] == nil {
		t.Errorf("completed: %v", j)
	}
	j = wait(bad.json(t)["task_id"].(string), "archived")
	lastErr, _ := j["last_error"].(string)
	if j["attempts"] != 1.0 || !strings.Contains(lastErr, "echo refused") || strings.Contains(lastErr, "hunter2") {
		t.Errorf("archived: %v", j)
	}
}

// TestAPITraceparent: the task carries the request's trace context, as it
// carries the CLI's TRACEPARENT.
func TestAPITraceparent(t *testing.T) {
	t.Parallel()
	b := newAPIBundle(t, testSettings(), "")
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	a := b.do(t, "POST", "/v1/jobs", `{"type":"test.echo","payload":{"msg":"t"}}`, "traceparent", tp)
	task, err := asynqdb.Read(context.Background(), b.rdb, "default", a.json(t)["task_id"].(string))
	if err != nil || task.Headers["traceparent"] != tp {
		t.Fatalf("task headers %v, %v", task.Headers, err)
	}
	bulk := b.do(t, "POST", "/v1/jobs:bulk", `[{"type":"test.echo","payload":{"msg":"t"}}]`, "traceparent", tp)
	id := bulk.json(t)["tasks"].([]any)[0].(map[string]any)["task_id"].(string)
	if task, err := asynqdb.Read(context.Background(), b.rdb, "default", id); err != nil || task.Headers["traceparent"] != tp {
		t.Fatalf("bulk task headers %v, %v", task.Headers, err)
	}
}
