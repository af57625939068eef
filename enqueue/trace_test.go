package enqueue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// envParent is the caller's span context, passed in TRACEPARENT.
const envParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// traced sets an in-memory tracer provider on b's config.
func traced(t *testing.T, b *testBundle) *tracetest.InMemoryExporter {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	b.cfg.TracerProvider = tp
	return exp
}

// spanIDOf returns the span ID in a traceparent header.
func spanIDOf(t *testing.T, traceparent string) string {
	t.Helper()
	parts := strings.Split(traceparent, "-")
	if len(parts) != 4 {
		t.Fatalf("traceparent %q", traceparent)
	}
	return parts[2]
}

func TestTraceSingleEnqueue(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	exp := traced(t, b)
	b.env["TRACEPARENT"] = envParent
	if r := b.run(t, "", echoType, `{"msg":"hi"}`, "--task-id", "t1"); r.code != ExitOK {
		t.Fatalf("run: %v", r)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "enqueue test.echo" {
		t.Fatalf("spans = %v", spans.Snapshots())
	}
	s := spans[0]
	if s.SpanKind != trace.SpanKindProducer || s.Parent.SpanID().String() != "00f067aa0ba902b7" ||
		s.SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("span: kind %v, parent %v, trace %v", s.SpanKind, s.Parent, s.SpanContext.TraceID())
	}
	got := map[string]string{}
	for _, kv := range s.Attributes {
		got[string(kv.Key)] = kv.Value.String()
	}
	for k, v := range map[string]string{"messaging.system": "asynq", "messaging.destination.name": "default",
		"messaging.message.id": "t1", "jobrunner.job.type": echoType} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	info, err := b.inspector().GetTaskInfo("default", "t1")
	if err != nil {
		t.Fatal(err)
	}
	if spanIDOf(t, info.Headers["traceparent"]) != s.SpanContext.SpanID().String() {
		t.Fatalf("task headers %v do not carry the command's span %v", info.Headers, s.SpanContext.SpanID())
	}
}

func TestTraceBulkEnqueue(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	exp := traced(t, b)
	file := filepath.Join(t.TempDir(), "jobs.jsonl")
	lines := `{"type":"test.echo","payload":{"msg":"a"},"options":{"task_id":"b1"}}
{"type":"test.echo","payload":{"msg":"b"},"options":{"task_id":"b2"}}
`
	if err := os.WriteFile(file, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := b.run(t, "", "--file", file); r.code != ExitOK {
		t.Fatalf("run: %v", r)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "enqueue batch" || spans[0].Parent.IsValid() {
		t.Fatalf("spans = %v", spans.Snapshots())
	}
	got := map[string]string{}
	for _, kv := range spans[0].Attributes {
		got[string(kv.Key)] = kv.Value.String()
	}
	if got["messaging.batch.message_count"] != "2" || got["jobrunner.batch.enqueued"] != "2" || got["messaging.destination.name"] != "default" {
		t.Errorf("attributes = %v", got)
	}
	for _, id := range []string{"b1", "b2"} {
		info, err := b.inspector().GetTaskInfo("default", id)
		if err != nil {
			t.Fatal(err)
		}
		if spanIDOf(t, info.Headers["traceparent"]) != spans[0].SpanContext.SpanID().String() {
			t.Errorf("%s: headers %v do not carry the batch span", id, info.Headers)
		}
	}
}

func TestTraceOffWritesNoHeaders(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	if r := b.run(t, "", echoType, `{"msg":"hi"}`, "--task-id", "plain"); r.code != ExitOK {
		t.Fatalf("run: %v", r)
	}
	// No provider, but a caller's context in the environment: passed on.
	b.env["TRACEPARENT"] = envParent
	b.env["BAGGAGE"] = "tenant=acme"
	if r := b.run(t, "", echoType, `{"msg":"hi"}`, "--task-id", "passed"); r.code != ExitOK {
		t.Fatalf("run: %v", r)
	}
	insp := b.inspector()
	for id, want := range map[string]map[string]string{
		"plain":  nil,
		"passed": {"traceparent": envParent, "baggage": "tenant=acme"},
	} {
		info, err := insp.GetTaskInfo("default", id)
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Headers) != len(want) {
			t.Fatalf("%s: headers %v, want %v", id, info.Headers, want)
		}
		for k, v := range want {
			if info.Headers[k] != v {
				t.Fatalf("%s: headers %v, want %v", id, info.Headers, want)
			}
		}
	}
}
