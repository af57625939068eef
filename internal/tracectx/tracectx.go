// Package tracectx carries OpenTelemetry trace context and baggage in asynq
// task headers, in the W3C formats (traceparent, tracestate, baggage), and
// resolves the tracer a component uses. Producers (job.Definition.Enqueue,
// the enqueue command, the runner's own re-enqueues) call Inject; the
// runner calls Extract for each attempt. It imports the OpenTelemetry API
// only, never the SDK.
//
// The formats are fixed, not taken from otel.GetTextMapPropagator (a no-op
// until a program sets one): a task outlives the process that wrote it, so
// its headers must mean the same thing to every worker that reads them.
package tracectx

import (
	"context"
	"maps"
	"reflect"
	"slices"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The task headers Inject writes and Extract reads: the W3C Trace Context
// and Baggage header names.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
	HeaderBaggage     = "baggage"
)

// Inject writes the span context and baggage of ctx into headers and
// returns them; headers may be nil, and a map is made only when there is
// something to write, so a task enqueued outside any trace keeps nil
// headers. A valid span context replaces any traceparent and tracestate
// headers already there (a copy of a task takes the context of the attempt
// that made it); baggage, when ctx has any, replaces the baggage header.
func Inject(ctx context.Context, headers map[string]string) map[string]string {
	sc := trace.SpanContextFromContext(ctx)
	bag := baggage.FromContext(ctx)
	if !sc.IsValid() && bag.Len() == 0 {
		return headers // nothing to write: no allocation
	}
	c := &carrier{m: headers}
	if sc.IsValid() {
		delete(c.m, HeaderTracestate) // a stale one must not outlive its traceparent
		propagation.TraceContext{}.Inject(ctx, c)
	}
	propagation.Baggage{}.Inject(ctx, c)
	return c.m
}

// Extract returns ctx with the baggage of headers, if any, and the span
// context the producer wrote (invalid when there is none, or when it does
// not parse). The span context is returned rather than put in ctx: the
// caller decides whether the attempt is its child or only links to it.
func Extract(ctx context.Context, headers map[string]string) (context.Context, trace.SpanContext) {
	ctx = ExtractBaggage(ctx, headers)
	if headers[HeaderTraceparent] == "" {
		return ctx, trace.SpanContext{}
	}
	pctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier(headers))
	return ctx, trace.SpanContextFromContext(pctx)
}

// ExtractBaggage returns ctx with the baggage of headers; without a baggage
// header it returns ctx itself, at the cost of one map lookup.
func ExtractBaggage(ctx context.Context, headers map[string]string) context.Context {
	if headers[HeaderBaggage] == "" {
		return ctx
	}
	return propagation.Baggage{}.Extract(ctx, propagation.MapCarrier(headers))
}

// FromEnv returns ctx with the trace context and baggage of the TRACEPARENT,
// TRACESTATE and BAGGAGE environment variables, as read by getenv (the
// OpenTelemetry convention for passing context to a child process). It
// returns ctx unchanged when TRACEPARENT and BAGGAGE are unset or invalid.
func FromEnv(ctx context.Context, getenv func(string) string) context.Context {
	if getenv == nil {
		return ctx
	}
	h := map[string]string{}
	for k, env := range map[string]string{HeaderTraceparent: "TRACEPARENT", HeaderTracestate: "TRACESTATE", HeaderBaggage: "BAGGAGE"} {
		if v := getenv(env); v != "" {
			h[k] = v
		}
	}
	if len(h) == 0 {
		return ctx
	}
	ctx = propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier(h))
	return propagation.Baggage{}.Extract(ctx, propagation.MapCarrier(h))
}

// carrier is a propagation.TextMapCarrier over a map that it makes on the
// first Set.
type carrier struct{ m map[string]string }

func (c *carrier) Get(key string) string { return c.m[key] }

func (c *carrier) Set(key, value string) {
	if c.m == nil {
		c.m = make(map[string]string, 2)
	}
	c.m[key] = value
}

func (c *carrier) Keys() []string { return slices.Collect(maps.Keys(c.m)) }

// Tracer hands out the tracer of a component, or nil while tracing is off,
// so that the component skips all tracing work, allocation included.
// Tracing is off for a no-op provider (go.opentelemetry.io/otel/trace/noop)
// and for the global provider until a program sets one
// (otel.SetTracerProvider).
type Tracer struct {
	fixed  trace.Tracer // from an explicit provider; nil for a no-op one
	global trace.Tracer // otel.Tracer(name) when the provider is the global one
}

// NewTracer returns the Tracer of the instrumentation scope name on tp, or
// on the global provider when tp is nil. A tracer of the global provider
// obtained before the program sets one forwards to it once it is set (the
// global provider's own delegation), so a component built early traces
// too.
func NewTracer(tp trace.TracerProvider, name string) *Tracer {
	switch tp.(type) {
	case nil:
		return &Tracer{global: otel.Tracer(name)}
	case noop.TracerProvider, *noop.TracerProvider:
		return &Tracer{}
	}
	return &Tracer{fixed: tp.Tracer(name)}
}

// Get returns the tracer, or nil when tracing is off. For the global
// provider it checks, at each call, whether one has been set: one atomic
// load and a type check, no allocation.
func (t *Tracer) Get() trace.Tracer {
	if t == nil {
		return nil
	}
	if t.global == nil {
		return t.fixed
	}
	switch tp := otel.GetTracerProvider(); tp.(type) {
	case noop.TracerProvider, *noop.TracerProvider:
		return nil
	default:
		if unsetGlobal(tp) {
			return nil
		}
	}
	return t.global
}

// unsetGlobal reports whether tp is OpenTelemetry's default global provider,
// which forwards to a no-op until otel.SetTracerProvider is called. Its type
// is unexported, so it is recognised by its package; should a later
// OpenTelemetry version move it, tracing would only stop being free, and
// TestOffByDefault would fail.
func unsetGlobal(tp trace.TracerProvider) bool {
	t := reflect.TypeOf(tp)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() == globalPkg
}

const globalPkg = "go.opentelemetry.io/otel/internal/global"
