package runner

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/job"
)

// chainRunner returns a runner whose chain runs a no-op job without
// touching Redis (no dedupe key, lock or dependency), with tp as its
// tracer provider (nil: the global one).
func chainRunner(tb testing.TB, tp trace.TracerProvider) *Runner {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true}) // never dialled
	tb.Cleanup(func() { _ = rdb.Close() })
	r, err := New(Config{Redis: rdb, Metrics: prometheus.NewRegistry(), TracerProvider: tp})
	if err != nil {
		tb.Fatal(err)
	}
	type noop struct{}
	if err := r.Register(&job.Definition[noop]{Type: "bench.noop", Handle: func(context.Context, noop) error { return nil }}); err != nil {
		tb.Fatal(err)
	}
	r.handler = r.chain()
	r.pool = newPool(r.handler)
	tb.Cleanup(func() { r.pool.stop(); _ = r.client.Close(); _ = r.inspector.Close() })
	return r
}

// tracedTask is a task whose producer wrote a trace context.
func tracedTask() *asynq.Task {
	return asynq.NewTaskWithHeaders("bench.noop", []byte(`{}`), map[string]string{
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	})
}

// BenchmarkChain runs one no-op job through the whole chain (processTask:
// every layer, the handler, settle), with tracing off and with the SDK
// exporting to a no-op exporter through a batch span processor.
//
//	go test -run '^$' -bench Chain -benchmem ./runner/
func BenchmarkChain(b *testing.B) {
	noopSDK := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = noopSDK.Shutdown(context.Background()) })
	for _, c := range []struct {
		name string
		tp   trace.TracerProvider
	}{{"off", nil}, {"sdk-noop-exporter", noopSDK}} {
		b.Run(c.name, func(b *testing.B) {
			r := chainRunner(b, c.tp)
			task := tracedTask()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := r.processTask(ctx, task); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// traceOff runs everything tracing adds to an attempt that takes a lock,
// has a dedupe key and a dependency, and is deferred: the most the layers
// call.
func traceOff(r *Runner, a *Attempt, err error) {
	ctx := r.startSpan(context.Background(), a)
	r.traceAdmission(a, lockcore.AdmitRequest{DedupeKey: "k", LockKey: "l"}, lockcore.Admission{}, nil, time.Time{})
	r.traceBreakers(context.Background(), a, a.prepared.Dependencies)
	r.traceOutcome(a, err)
	r.traceRequeued(a, "x~1")
	_ = ctx
	r.endSpan(a)
}

// BenchmarkTraceOff is what tracing adds to an attempt with no provider
// set: the budget is 1µs and no allocation.
//
//	go test -run '^$' -bench TraceOff -benchmem ./runner/
func BenchmarkTraceOff(b *testing.B) {
	r := chainRunner(b, nil)
	a := &Attempt{Type: "bench.noop", Task: tracedTask(), runner: r, prepared: job.Prepared{Dependencies: []string{"dep"}}}
	err := newDeferral("busy", time.Second, nil)
	b.ReportAllocs()
	for b.Loop() {
		traceOff(r, a, err)
	}
}

// TestTraceOffIsFree fails if tracing with no provider set allocates.
func TestTraceOffIsFree(t *testing.T) {
	r := chainRunner(t, nil)
	a := &Attempt{Type: "bench.noop", Task: tracedTask(), runner: r, prepared: job.Prepared{Dependencies: []string{"dep"}}}
	err := newDeferral("busy", time.Second, nil)
	if n := testing.AllocsPerRun(1000, func() { traceOff(r, a, err) }); n != 0 {
		t.Fatalf("tracing with no provider allocates %v times per attempt; want 0", n)
	}
	if a.span != nil {
		t.Fatal("an attempt got a span with no provider set")
	}
}
