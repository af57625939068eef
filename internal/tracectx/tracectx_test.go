package tracectx

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/baggage"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The tests run in file order: TestOffByDefault must run before
// TestGlobalProviderTurnsTracingOn sets the process's global provider.

func TestOffByDefault(t *testing.T) {
	tr := NewTracer(nil, "test")
	if got := tr.Get(); got != nil {
		t.Fatalf("Get() = %T with no global provider set; want nil (tracing off)", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = tr.Get() }); n != 0 {
		t.Fatalf("Get() allocates %v times with tracing off", n)
	}
	if got := NewTracer(noop.NewTracerProvider(), "test").Get(); got != nil {
		t.Fatalf("Get() = %T for a no-op provider; want nil", got)
	}
	var nilTracer *Tracer
	if nilTracer.Get() != nil {
		t.Fatal("a nil *Tracer must be off")
	}
}

func TestGlobalProviderTurnsTracingOn(t *testing.T) {
	early := NewTracer(nil, "test") // built before the program sets a provider
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	for name, tr := range map[string]*Tracer{"early": early, "late": NewTracer(nil, "test")} {
		got := tr.Get()
		if got == nil {
			t.Fatalf("%s: Get() = nil with a global SDK provider", name)
		}
		_, span := got.Start(context.Background(), "x")
		if !span.IsRecording() {
			t.Fatalf("%s: the span does not record", name)
		}
		span.End()
	}
	otel.SetTracerProvider(noop.NewTracerProvider())
	if early.Get() != nil {
		t.Fatal("Get() != nil with a global no-op provider")
	}
}

func TestExplicitProvider(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	if NewTracer(tp, "test").Get() == nil {
		t.Fatal("Get() = nil for an SDK provider")
	}
}

func spanContext(t *testing.T) trace.SpanContext {
	t.Helper()
	tid, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := trace.ParseTraceState("vendor=abc")
	if err != nil {
		t.Fatal(err)
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true})
}

func TestInjectNothingOutsideATrace(t *testing.T) {
	if h := Inject(context.Background(), nil); h != nil {
		t.Fatalf("Inject outside a trace made headers %v; want nil", h)
	}
	h := map[string]string{"tenant": "a"}
	if got := Inject(context.Background(), h); len(got) != 1 {
		t.Fatalf("Inject outside a trace changed headers: %v", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Inject(context.Background(), nil) }); n != 0 {
		t.Fatalf("Inject outside a trace allocates %v times", n)
	}
}

func TestInjectExtractRoundTrip(t *testing.T) {
	sc := spanContext(t)
	m, err := baggage.NewMember("tenant", "acme")
	if err != nil {
		t.Fatal(err)
	}
	bag, err := baggage.New(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx := baggage.ContextWithBaggage(trace.ContextWithSpanContext(context.Background(), sc), bag)
	h := Inject(ctx, nil)
	if h[HeaderTraceparent] != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" ||
		h[HeaderTracestate] != "vendor=abc" || h[HeaderBaggage] != "tenant=acme" {
		t.Fatalf("headers = %v", h)
	}
	got, psc := Extract(context.Background(), h)
	if !psc.Equal(sc) {
		t.Fatalf("extracted %v; want %v", psc, sc)
	}
	if trace.SpanContextFromContext(got).IsValid() {
		t.Fatal("Extract put the producer's span context in ctx; the caller decides child or link")
	}
	if v := baggage.FromContext(got).Member("tenant").Value(); v != "acme" {
		t.Fatalf("baggage tenant = %q", v)
	}
}

func TestInjectReplacesAStaleContext(t *testing.T) {
	// A copy of a task clones its headers, then takes the context of the
	// attempt that made it: the old tracestate must not survive.
	old := map[string]string{HeaderTraceparent: "00-11111111111111111111111111111111-2222222222222222-01", HeaderTracestate: "old=1", "tenant": "a"}
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	h := Inject(trace.ContextWithSpanContext(context.Background(), sc), old)
	if h[HeaderTraceparent] != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Fatalf("traceparent = %q", h[HeaderTraceparent])
	}
	if _, ok := h[HeaderTracestate]; ok {
		t.Fatalf("stale tracestate kept: %v", h)
	}
	if h["tenant"] != "a" {
		t.Fatalf("other headers lost: %v", h)
	}
}

func TestExtractWithoutHeaders(t *testing.T) {
	ctx := context.Background()
	got, psc := Extract(ctx, nil)
	if got != ctx || psc.IsValid() {
		t.Fatal("Extract of no headers changed ctx or found a span context")
	}
	_, psc = Extract(ctx, map[string]string{HeaderTraceparent: "garbage"})
	if psc.IsValid() {
		t.Fatal("an invalid traceparent was accepted")
	}
	h := map[string]string{"x": "y"}
	if n := testing.AllocsPerRun(100, func() { _ = ExtractBaggage(ctx, h) }); n != 0 {
		t.Fatalf("ExtractBaggage without a baggage header allocates %v times", n)
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{
		"TRACEPARENT": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"TRACESTATE":  "vendor=abc",
		"BAGGAGE":     "tenant=acme",
	}
	ctx := FromEnv(context.Background(), func(k string) string { return env[k] })
	sc := trace.SpanContextFromContext(ctx)
	if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !sc.IsRemote() || sc.TraceState().Get("vendor") != "abc" {
		t.Fatalf("span context from env = %v", sc)
	}
	if v := baggage.FromContext(ctx).Member("tenant").Value(); v != "acme" {
		t.Fatalf("baggage tenant = %q", v)
	}
	bg := context.Background()
	if FromEnv(bg, func(string) string { return "" }) != bg || FromEnv(bg, nil) != bg {
		t.Fatal("FromEnv without variables changed ctx")
	}
}
