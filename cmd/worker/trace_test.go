package main

import (
	"encoding/hex"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/testkit/otlptest"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// TestTracesExportedAndFlushedOnDrain: with OTEL_EXPORTER_OTLP_ENDPOINT
// set, an attempt's span reaches the collector by the end of the drain
// (the batch would otherwise wait 5s), as a child of the producer's
// context in the task's headers.
func TestTracesExportedAndFlushedOnDrain(t *testing.T) {
	srv := redistest.Start(t)
	collector := otlptest.NewServer(t)
	w := workertest.Start(t, srv, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + collector.URL, "OTEL_SERVICE_NAME=worker-test"})
	client := asynq.NewClientFromRedisClient(srv.Client())
	t.Cleanup(func() { _ = client.Close() })
	task := asynq.NewTaskWithHeaders("demo.sleep", []byte(`{"ms":1,"dedupe":"d1"}`),
		map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	if _, err := client.Enqueue(task, asynq.TaskID("traced")); err != nil {
		t.Fatal(err)
	}
	w.WaitEvent("job.done", 10*time.Second)
	w.Signal(syscall.SIGTERM)
	if code := w.Wait(20 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	spans := collector.Named("job demo.sleep")
	if len(spans) != 1 {
		t.Fatalf("collector received %d spans: %v", len(collector.Spans()), collector.Spans())
	}
	sp := spans[0]
	if sp.Service != "worker-test" || hex.EncodeToString(sp.ParentSpanId) != "00f067aa0ba902b7" ||
		hex.EncodeToString(sp.TraceId) != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("span: service %q, trace %x, parent %x", sp.Service, sp.TraceId, sp.ParentSpanId)
	}
	got := map[string]string{}
	for _, kv := range sp.Attributes {
		got[kv.Key] = kv.GetValue().GetStringValue()
	}
	if got["messaging.message.id"] != "traced" || got["jobrunner.job.outcome"] != "done" {
		t.Errorf("attributes = %v", got)
	}
}
