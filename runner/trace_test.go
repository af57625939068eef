package runner_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
	"github.com/jobrunner/jobrunner/runner"
)

// secret is in every payload of these tests; no span may carry it.
const secret = "4111-1111-SECRET"

// card is a payload with a secret in it.
type card struct {
	ID     string `json:"id"`
	Number string `json:"number"`
	Fail   int    `json:"fail,omitempty"`  // fail the first Fail attempts
	Defer  int    `json:"defer,omitempty"` // defer the first Defer runs
}

func (c card) Validate() error {
	if !strings.HasPrefix(c.Number, "4111") {
		// Validation messages may quote the payload, as this one does.
		return job.FieldError("number", "not a test card: %s", c.Number)
	}
	return nil
}

// traced is a tracer provider whose spans the test reads.
type traced struct {
	tp  *sdktrace.TracerProvider
	exp *tracetest.InMemoryExporter
}

func newTraced(t testing.TB) *traced {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return &traced{tp: tp, exp: exp}
}

// spans returns the ended spans named name.
func (tr *traced) spans(name string) tracetest.SpanStubs {
	var out tracetest.SpanStubs
	for _, s := range tr.exp.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// waitSpans waits until n spans named name have ended and returns them in
// the order they started.
func (tr *traced) waitSpans(t *testing.T, name string, n int) tracetest.SpanStubs {
	t.Helper()
	waitFor(t, 15*time.Second, fmt.Sprintf("%d %q spans", n, name), func() bool { return len(tr.spans(name)) >= n })
	s := tr.spans(name)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].StartTime.Before(s[j-1].StartTime); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// attrs returns the attributes as a map of their emitted values.
func attrs(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

// wantAttrs fails unless kvs has each of want.
func wantAttrs(t *testing.T, what string, kvs []attribute.KeyValue, want map[string]string) {
	t.Helper()
	got := attrs(kvs)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q (all: %v)", what, k, got[k], v, got)
		}
	}
}

// event returns the attributes of s's first event named name.
func event(t *testing.T, s tracetest.SpanStub, name string) map[string]string {
	t.Helper()
	for _, e := range s.Events {
		if e.Name == name {
			return attrs(e.Attributes)
		}
	}
	t.Fatalf("span %s has no %q event: %v", s.Name, name, s.Events)
	return nil
}

// noSecret fails if any span carries the secret anywhere a backend shows.
func noSecret(t *testing.T, tr *traced) {
	t.Helper()
	for _, s := range tr.exp.GetSpans() {
		where := []string{s.Name, s.Status.Description}
		for _, kv := range s.Attributes {
			where = append(where, kv.Value.String())
		}
		for _, e := range s.Events {
			where = append(where, e.Name)
			for _, kv := range e.Attributes {
				where = append(where, kv.Value.String())
			}
		}
		for _, l := range s.Links {
			for _, kv := range l.Attributes {
				where = append(where, kv.Value.String())
			}
		}
		for _, w := range where {
			if strings.Contains(w, "SECRET") {
				t.Fatalf("span %s carries the payload's secret: %q", s.Name, w)
			}
		}
	}
}

// cardJob is a job that fails or defers as its payload says, and records
// the baggage it sees.
type cardJob struct {
	mu      sync.Mutex
	runs    map[string]int
	tenants []string
	tracer  trace.Tracer
}

func (j *cardJob) handle(ctx context.Context, c card) error {
	j.mu.Lock()
	j.runs[c.ID]++
	n := j.runs[c.ID]
	j.tenants = append(j.tenants, baggage.FromContext(ctx).Member("tenant").Value())
	j.mu.Unlock()
	if j.tracer != nil {
		_, span := j.tracer.Start(ctx, "charge card")
		span.End()
	}
	switch {
	case n <= c.Defer:
		return job.Defer("waiting_for_upstream", 50*time.Millisecond, nil)
	case n <= c.Defer+c.Fail:
		return errors.New("upstream answered 500")
	}
	return nil
}

func setupTraced(t *testing.T, cfg runner.Config, def func(*cardJob) *job.Definition[card]) (*runner.Runner, *testBundle, *traced, *cardJob) {
	t.Helper()
	tr := newTraced(t)
	cfg.TracerProvider = tr.tp
	cfg.RetryBackoff = func(int, error) time.Duration { return 10 * time.Millisecond }
	r, b := harness(t, cfg)
	j := &cardJob{runs: map[string]int{}, tracer: tr.tp.Tracer("handler")}
	if err := r.Register(def(j)); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	return r, b, tr, j
}

// producer starts the span of a request that enqueues jobs, with baggage.
func producer(t *testing.T, tr *traced) (context.Context, trace.Span) {
	t.Helper()
	m, err := baggage.NewMember("tenant", "acme")
	if err != nil {
		t.Fatal(err)
	}
	bag, _ := baggage.New(m)
	ctx := baggage.ContextWithBaggage(context.Background(), bag)
	return tr.tp.Tracer("producer").Start(ctx, "POST /orders")
}

func TestTraceEnqueueToHandler(t *testing.T) {
	def := func(j *cardJob) *job.Definition[card] {
		return &job.Definition[card]{Type: "card.charge", Handle: j.handle,
			DedupeKey:    func(c card) string { return c.ID },
			Lock:         func(c card) job.Lock { return job.Lock{Key: "card:" + c.ID} },
			Dependencies: func(card) []string { return []string{"payment-api"} },
		}
	}
	var d *job.Definition[card]
	_, b, tr, j := setupTraced(t, runner.Config{}, func(j *cardJob) *job.Definition[card] { d = def(j); return d })
	ctx, parent := producer(t, tr)
	info, err := d.Enqueue(ctx, b.client, card{ID: "c1", Number: secret})
	if err != nil {
		t.Fatal(err)
	}
	parent.End()

	s := tr.waitSpans(t, "job card.charge", 1)[0]
	if s.SpanKind != trace.SpanKindConsumer {
		t.Errorf("kind = %v, want consumer", s.SpanKind)
	}
	if s.Parent.SpanID() != parent.SpanContext().SpanID() || s.SpanContext.TraceID() != parent.SpanContext().TraceID() {
		t.Fatalf("job span's parent = %v, want the producer's span %v", s.Parent, parent.SpanContext())
	}
	if len(s.Links) != 0 {
		t.Errorf("a first attempt needs no link: %v", s.Links)
	}
	wantAttrs(t, "job span", s.Attributes, map[string]string{
		"messaging.system": "asynq", "messaging.operation.type": "process", "messaging.destination.name": "default",
		"messaging.message.id": info.ID, "jobrunner.job.type": "card.charge", "jobrunner.job.attempt": "1",
		"jobrunner.job.outcome": "done", "jobrunner.lock.key": "card:c1",
	})
	if e := event(t, s, "dedupe"); e["jobrunner.dedupe.verdict"] != "admitted" || e["jobrunner.dedupe.key"] != "card.charge:c1" {
		t.Errorf("dedupe event = %v", e)
	}
	if e := event(t, s, "lock.acquired"); e["jobrunner.lock.key"] != "card:c1" || e["jobrunner.lock.fence"] == "" || e["jobrunner.lock.wait_ms"] == "" {
		t.Errorf("lock event = %v", e)
	}
	if e := event(t, s, "breaker.check"); e["jobrunner.dependency"] != "payment-api" || e["jobrunner.breaker.open"] != "false" {
		t.Errorf("breaker event = %v", e)
	}
	if s.Status.Code != codes.Unset {
		t.Errorf("status = %v", s.Status)
	}
	// The handler's own spans nest under the attempt's.
	h := tr.waitSpans(t, "charge card", 1)[0]
	if h.Parent.SpanID() != s.SpanContext.SpanID() {
		t.Errorf("the handler's span is not a child of the attempt's")
	}
	j.mu.Lock()
	if len(j.tenants) != 1 || j.tenants[0] != "acme" {
		t.Errorf("baggage seen by the handler: %v", j.tenants)
	}
	j.mu.Unlock()
	noSecret(t, tr)
}

func TestTraceRetryLinks(t *testing.T) {
	var d *job.Definition[card]
	_, b, tr, _ := setupTraced(t, runner.Config{}, func(j *cardJob) *job.Definition[card] {
		d = &job.Definition[card]{Type: "card.retry", Handle: j.handle}
		return d
	})
	ctx, parent := producer(t, tr)
	if _, err := d.Enqueue(ctx, b.client, card{ID: "r1", Number: secret, Fail: 1}); err != nil {
		t.Fatal(err)
	}
	parent.End()
	s := tr.waitSpans(t, "job card.retry", 2)
	first, retry := s[0], s[1]
	if first.Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("the first attempt is not a child of the producer")
	}
	wantAttrs(t, "first attempt", first.Attributes, map[string]string{
		"jobrunner.job.attempt": "1", "jobrunner.job.outcome": "failed", "jobrunner.job.final": "false", "error.type": "_OTHER",
	})
	if first.Status.Code != codes.Error || first.Status.Description != "upstream answered 500" {
		t.Errorf("first attempt's status = %+v", first.Status)
	}
	// The retry starts its own trace and links to the producer.
	if retry.Parent.IsValid() || retry.SpanContext.TraceID() == parent.SpanContext().TraceID() {
		t.Errorf("the retry nests in the producer's trace (parent %v)", retry.Parent)
	}
	if len(retry.Links) != 1 || retry.Links[0].SpanContext.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("the retry's links = %v, want the producer's span", retry.Links)
	}
	wantAttrs(t, "retry", retry.Attributes, map[string]string{"jobrunner.job.attempt": "2", "jobrunner.job.outcome": "done"})
	noSecret(t, tr)
}

func TestTraceDeferralAndCopy(t *testing.T) {
	var d *job.Definition[card]
	_, b, tr, _ := setupTraced(t, runner.Config{}, func(j *cardJob) *job.Definition[card] {
		d = &job.Definition[card]{Type: "card.defer", Handle: j.handle, MaxRetry: job.NoRetry}
		return d
	})
	ctx, parent := producer(t, tr)
	info, err := d.Enqueue(ctx, b.client, card{ID: "d1", Number: secret, Defer: 1}, asynq.TaskID("d1"))
	if err != nil {
		t.Fatal(err)
	}
	parent.End()
	s := tr.waitSpans(t, "job card.defer", 2)
	deferred, copied := s[0], s[1]
	wantAttrs(t, "deferred attempt", deferred.Attributes, map[string]string{
		"jobrunner.job.outcome": "deferred", "jobrunner.job.reason": "waiting_for_upstream", "jobrunner.job.retry_in_ms": "50",
	})
	if deferred.Status.Code != codes.Unset {
		t.Errorf("a deferral is not an error: status %+v", deferred.Status)
	}
	// On its last attempt the deferral went through a copy, which the
	// runner enqueued with the deferred attempt's context.
	if e := event(t, deferred, "requeued"); e["jobrunner.job.copy_id"] != info.ID+"~1" {
		t.Errorf("requeued event = %v", e)
	}
	if copied.Parent.SpanID() != deferred.SpanContext.SpanID() {
		t.Errorf("the copy's attempt is not a child of the attempt that deferred it")
	}
	wantAttrs(t, "copy", copied.Attributes, map[string]string{
		"messaging.message.id": info.ID + "~1", "jobrunner.job.origin_id": info.ID, "jobrunner.job.outcome": "done",
	})
	noSecret(t, tr)
}

func TestTraceBreakerDeferral(t *testing.T) {
	var d *job.Definition[card]
	_, b, tr, _ := setupTraced(t, runner.Config{
		Breakers: resilience.RegistryConfig{Default: resilience.BreakerConfig{FailureThreshold: 1, OpenTimeout: time.Hour}},
	}, func(j *cardJob) *job.Definition[card] {
		d = &job.Definition[card]{Type: "card.dep", Handle: j.handle, MaxRetry: 5,
			Dependencies: func(card) []string { return []string{"payment-api"} }}
		return d
	})
	// The first job's failure opens the breaker; the second is deferred.
	if _, err := d.Enqueue(context.Background(), b.client, card{ID: "b1", Number: secret, Fail: 100}); err != nil {
		t.Fatal(err)
	}
	tr.waitSpans(t, "job card.dep", 1)
	if _, err := d.Enqueue(context.Background(), b.client, card{ID: "b2", Number: secret}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a breaker deferral", func() bool {
		for _, s := range tr.spans("job card.dep") {
			if attrs(s.Attributes)["jobrunner.job.reason"] == "breaker_open" {
				return true
			}
		}
		return false
	})
	for _, s := range tr.spans("job card.dep") {
		a := attrs(s.Attributes)
		if a["jobrunner.job.reason"] != "breaker_open" {
			continue
		}
		wantAttrs(t, "breaker deferral", s.Attributes, map[string]string{"jobrunner.job.outcome": "deferred", "jobrunner.dependency": "payment-api"})
		if e := event(t, s, "breaker.check"); e["jobrunner.breaker.open"] != "true" {
			t.Errorf("breaker event = %v", e)
		}
		// Enqueued outside any trace: a root span, no link.
		if s.Parent.IsValid() || len(s.Links) != 0 {
			t.Errorf("untraced task: parent %v, links %v", s.Parent, s.Links)
		}
	}
	noSecret(t, tr)
}

func TestTraceDedupeSkip(t *testing.T) {
	var d *job.Definition[card]
	_, b, tr, j := setupTraced(t, runner.Config{}, func(j *cardJob) *job.Definition[card] {
		d = &job.Definition[card]{Type: "card.once", Handle: j.handle, DedupeKey: func(c card) string { return c.ID }}
		return d
	})
	ctx, parent := producer(t, tr)
	defer parent.End()
	if _, err := d.Enqueue(ctx, b.client, card{ID: "k1", Number: secret}); err != nil {
		t.Fatal(err)
	}
	tr.waitSpans(t, "job card.once", 1)
	if _, err := d.Enqueue(ctx, b.client, card{ID: "k1", Number: secret}); err != nil {
		t.Fatal(err)
	}
	s := tr.waitSpans(t, "job card.once", 2)[1]
	wantAttrs(t, "duplicate", s.Attributes, map[string]string{"jobrunner.job.outcome": "skipped", "jobrunner.job.reason": "duplicate_done"})
	if e := event(t, s, "dedupe"); e["jobrunner.dedupe.verdict"] != "done" {
		t.Errorf("dedupe event = %v", e)
	}
	j.mu.Lock()
	if j.runs["k1"] != 1 {
		t.Errorf("ran %d times", j.runs["k1"])
	}
	j.mu.Unlock()
	noSecret(t, tr)
}

func TestTraceInvalidPayloadHidesTheValue(t *testing.T) {
	_, b, tr, _ := setupTraced(t, runner.Config{}, func(j *cardJob) *job.Definition[card] {
		return &job.Definition[card]{Type: "card.bad", Handle: j.handle}
	})
	// A plain asynq client, no headers: the payload fails validation with
	// a message that quotes the number.
	if _, err := b.client.Enqueue(asynq.NewTask("card.bad", []byte(`{"id":"x","number":"9999-SECRET"}`))); err != nil {
		t.Fatal(err)
	}
	s := tr.waitSpans(t, "job card.bad", 1)[0]
	wantAttrs(t, "invalid payload", s.Attributes, map[string]string{
		"jobrunner.job.outcome": "failed", "jobrunner.job.reason": "invalid_payload", "jobrunner.job.final": "true", "error.type": "invalid_payload",
	})
	if s.Status.Code != codes.Error || s.Status.Description != `invalid payload: field "number"` {
		t.Errorf("status = %+v", s.Status)
	}
	noSecret(t, tr)
}
