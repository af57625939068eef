package runner

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

// TestTraceAdmissionEvents: a busy lock and an unreachable store show on
// the attempt's span as events, with the lock key and the time waited.
func TestTraceAdmissionEvents(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	r := chainRunner(t, tp)
	req := lockcore.AdmitRequest{LockKey: "invoice:1"}
	for _, c := range []struct {
		err  error
		want string
	}{
		{lockcore.ErrNotObtained, "lock.busy"},
		{&lockcore.StoreError{Op: "admit", Err: context.DeadlineExceeded}, "store.unavailable"},
	} {
		exp.Reset()
		a := &Attempt{Type: "bench.noop", Task: tracedTask(), runner: r}
		r.startSpan(context.Background(), a)
		r.traceAdmission(a, req, lockcore.Admission{}, c.err, r.cfg.Now().Add(-1500*time.Millisecond))
		r.endSpan(a)
		spans := exp.GetSpans()
		if len(spans) != 1 || len(spans[0].Events) != 1 || spans[0].Events[0].Name != c.want {
			t.Fatalf("%v: spans %v", c.err, spans.Snapshots())
		}
		if c.want == "lock.busy" {
			got := map[string]string{}
			for _, kv := range spans[0].Events[0].Attributes {
				got[string(kv.Key)] = kv.Value.String()
			}
			if got["jobrunner.lock.key"] != "invoice:1" || got["jobrunner.lock.wait_ms"] != "1500" {
				t.Errorf("lock.busy attributes = %v", got)
			}
		}
	}
}
