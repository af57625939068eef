package main

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/testkit/otlptest"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// traceparent is a caller's span context for TRACEPARENT.
const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestOTLPExport: with OTEL_EXPORTER_OTLP_ENDPOINT set, the command's span
// reaches the collector before it exits, as a child of TRACEPARENT, and
// the task carries the span's context.
func TestOTLPExport(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	collector := otlptest.NewServer(t)
	env := []string{"REDIS_URL=" + s.URL(), "OTEL_EXPORTER_OTLP_ENDPOINT=" + collector.URL,
		"OTEL_SERVICE_NAME=enqueue-test", "TRACEPARENT=" + traceparent}
	if code, out, errOut := runCmd(t, env, "demo.sleep", `{"ms":1}`, "--task-id", "t1"); code != 0 {
		t.Fatalf("exit %d, %q, %q", code, out, errOut)
	}
	spans := collector.Named("enqueue demo.sleep")
	if len(spans) != 1 {
		t.Fatalf("collector received %v", collector.Spans())
	}
	sp := spans[0]
	if sp.Service != "enqueue-test" || hex.EncodeToString(sp.TraceId) != "4bf92f3577b34da6a3ce929d0e0e4736" ||
		hex.EncodeToString(sp.ParentSpanId) != "00f067aa0ba902b7" {
		t.Fatalf("span: service %q, trace %x, parent %x", sp.Service, sp.TraceId, sp.ParentSpanId)
	}
	info, err := asynq.NewInspectorFromRedisClient(s.Client()).GetTaskInfo("default", "t1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info.Headers["traceparent"], hex.EncodeToString(sp.SpanId)) {
		t.Fatalf("task headers %v do not carry the span %x", info.Headers, sp.SpanId)
	}
}

// TestNoExportUnlessAsked: without an endpoint, or with the SDK disabled,
// nothing is exported and the command makes no span; a caller's
// TRACEPARENT is passed on as it is.
func TestNoExportUnlessAsked(t *testing.T) {
	t.Parallel()
	s := redistest.Start(t)
	collector := otlptest.NewServer(t)
	for id, env := range map[string][]string{
		"disabled":    {"OTEL_EXPORTER_OTLP_ENDPOINT=" + collector.URL, "OTEL_SDK_DISABLED=true"},
		"no-endpoint": {"OTEL_SERVICE_NAME=enqueue-test", "OTEL_EXPORTER_OTLP_ENDPOINT="},
	} {
		env = append(env, "REDIS_URL="+s.URL(), "TRACEPARENT="+traceparent)
		if code, out, errOut := runCmd(t, env, "demo.sleep", `{"ms":1}`, "--task-id", id); code != 0 {
			t.Fatalf("%s: exit %d, %q, %q", id, code, out, errOut)
		}
		info, err := asynq.NewInspectorFromRedisClient(s.Client()).GetTaskInfo("default", id)
		if err != nil {
			t.Fatal(err)
		}
		if info.Headers["traceparent"] != traceparent {
			t.Errorf("%s: headers %v; want TRACEPARENT passed on unchanged", id, info.Headers)
		}
	}
	if got := collector.Spans(); len(got) != 0 {
		t.Fatalf("exported %d spans without being asked", len(got))
	}
}

// TestBadTracingSettingsExit2: a bad OTEL_* value is a usage error (exit
// 2, one line naming the variable), not a plain-text line from the SDK
// followed by an enqueue without a span.
func TestBadTracingSettingsExit2(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env  []string
		want string
	}{
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318"}, `enqueue: OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318": want an http:// or https:// URL`},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER=sometimes"}, `enqueue: OTEL_TRACES_SAMPLER="sometimes": want one of`},
	} {
		code, out, errOut := runCmd(t, c.env, "--dry-run", "demo.sleep", `{"ms":1}`)
		if code != 2 || out != "" || !strings.HasPrefix(errOut, c.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and one line starting %q", c.env, code, out, errOut, c.want)
		}
	}
}
