package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// TestBadSettingsExit2 runs the worker binary with settings a newcomer got
// wrong: each exits with status 2 before starting, with one line on stderr
// naming the variable and what it wants, and nothing but JSON on stdout
// (the OpenTelemetry SDK used to print its own plain-text line and run on
// without traces). REDIS_URL names the test's own Redis, so that a value
// wrongly accepted runs there.
func TestBadSettingsExit2(t *testing.T) {
	srv := redistest.Start(t)
	for _, tt := range []struct {
		env  []string
		want string
	}{
		{[]string{"WORKER_POLL_INTERVAL=1ns"}, `worker: WORKER_POLL_INTERVAL="1ns": want at least 10ms`},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=collector:4318"}, `worker: OTEL_EXPORTER_OTLP_ENDPOINT="collector:4318": want an http:// or https:// URL`},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://%zz"}, `worker: OTEL_EXPORTER_OTLP_ENDPOINT="http://%zz": not a URL`},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER=sometimes"}, `worker: OTEL_TRACES_SAMPLER="sometimes": want one of always_on,`},
		{[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER=traceidratio", "OTEL_TRACES_SAMPLER_ARG=2"}, `worker: OTEL_TRACES_SAMPLER_ARG="2": want a ratio from 0 to 1`},
	} {
		w := workertest.StartNoWait(t, srv, tt.env)
		if code := w.Wait(20 * time.Second); code != 2 {
			t.Errorf("%v: exit %d, want 2", tt.env, code)
		}
		if errOut := w.Stderr(); !strings.HasPrefix(errOut, tt.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: stderr %q, want one line starting %q", tt.env, errOut, tt.want)
		}
		for _, l := range strings.Split(strings.TrimSpace(w.Raw()), "\n") {
			if l != "" && !json.Valid([]byte(l)) {
				t.Errorf("%v: a line on stdout that is not JSON: %q", tt.env, l)
			}
		}
	}
}
