package enqueue

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// TestErrorsGolden runs every error path once and compares exit status,
// stdout and stderr with testdata/enqueue/errors/NAME.golden.
func TestErrorsGolden(t *testing.T) {
	t.Parallel()
	big := `{"msg":"` + strings.Repeat("x", 100) + `"}`
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, []byte("\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	down := fmt.Sprintf("redis://:hunter2@127.0.0.1:%d", port)
	tests := []struct {
		name  string
		code  int
		stdin string
		args  []string
		seed  [][]string // commands run first, expected to succeed
	}{
		{name: "missing-type", code: ExitUsage},
		{name: "too-many-args", code: ExitUsage, args: []string{"demo.sleep", "{}", "{}"}},
		{name: "unknown-flag", code: ExitUsage, args: []string{"--bogus", "demo.sleep"}},
		{name: "flag-needs-value", code: ExitUsage, args: []string{"demo.sleep", "--queue"}},
		{name: "bad-max-retry", code: ExitUsage, args: []string{"demo.sleep", "--max-retry", "many"}},
		{name: "negative-max-retry", code: ExitUsage, args: []string{"demo.sleep", "--max-retry", "-1"}},
		{name: "bad-output", code: ExitUsage, args: []string{"demo.sleep", "--output", "yaml"}},
		{name: "unknown-type", code: ExitUsage, args: []string{"mine.custom", "{}"}},
		{name: "empty-type", code: ExitUsage, args: []string{" ", "{}"}},
		{name: "bad-json", code: ExitUsage, args: []string{"demo.sleep", `{"ms":`}},
		{name: "bad-json-unknown-type", code: ExitUsage, args: []string{"--allow-unknown", "mine.custom", `{"a" 1}`}},
		{name: "trailing-data", code: ExitUsage, args: []string{"demo.sleep", `{} {}`}},
		{name: "unknown-field", code: ExitUsage, args: []string{"demo.sleep", `{"ms":1,"sleep":2}`}},
		{name: "wrong-type", code: ExitUsage, args: []string{"demo.sleep", `{"ms":"10"}`}},
		{name: "invalid-value", code: ExitUsage, args: []string{"demo.sleep", `{"ms":-5}`}},
		{name: "null-payload", code: ExitUsage, args: []string{"demo.sleep", `null`}},
		{name: "null-payload-unknown-type", code: ExitUsage, args: []string{"--allow-unknown", "mine.custom", `null`}},
		{name: "duplicate-key", code: ExitUsage, args: []string{"demo.sleep", `{"ms":1,"ms":2}`}},
		{name: "duplicate-key-nested", code: ExitUsage, args: []string{"--allow-unknown", "mine.custom", `{"a":[{"b":1},{"b":1,"b":2}]}`}},
		{name: "oversized-payload", code: ExitUsage, args: []string{"--max-payload-bytes", "64", echoType, big}},
		{name: "empty-payload-file", code: ExitUsage, args: []string{"demo.sleep", "--payload-file", empty}},
		{name: "missing-payload-file", code: ExitUsage, args: []string{"demo.sleep", "--payload-file", filepath.Join(dir, "nope.json")}},
		{name: "payload-arg-and-file", code: ExitUsage, args: []string{"demo.sleep", "{}", "--payload-file", empty}},
		{name: "bad-duration", code: ExitUsage, args: []string{"demo.sleep", "--timeout", "10 minutes"}},
		{name: "fractional-timeout", code: ExitUsage, args: []string{"demo.sleep", "--timeout", "1500ms"}},
		{name: "fractional-timeout-seconds", code: ExitUsage, args: []string{"demo.sleep", "--timeout", "1.5"}},
		{name: "timeout-zero-without-deadline", code: ExitUsage, args: []string{"demo.sleep", "--timeout", "0"}},
		{name: "unique-too-short", code: ExitUsage, args: []string{"demo.sleep", "--unique", "500ms"}},
		{name: "bad-deadline", code: ExitUsage, args: []string{"demo.sleep", "--deadline", "tomorrow"}},
		{name: "deadline-in-past", code: ExitUsage, args: []string{"demo.sleep", "--deadline", "2001-01-01T00:00:00Z"}},
		{name: "process-in-and-at", code: ExitUsage, args: []string{"demo.sleep", "--process-in", "1m", "--process-at", "2030-01-01T00:00:00Z"}},
		{name: "process-after-deadline", code: ExitUsage, args: []string{"demo.sleep", "--process-at", "2099-01-02T00:00:00Z", "--deadline", "2099-01-01T00:00:00Z"}},
		{name: "empty-queue", code: ExitUsage, args: []string{"demo.sleep", "--queue", " "}},
		{name: "empty-task-id", code: ExitUsage, args: []string{"demo.sleep", "--task-id", ""}},
		{name: "file-with-type", code: ExitUsage, args: []string{"--file", "-", "demo.sleep"}},
		{name: "file-with-wait", code: ExitUsage, args: []string{"--file", "-", "--wait"}},
		{name: "file-with-task-id", code: ExitUsage, args: []string{"--file", "-", "--task-id", "x"}},
		{name: "fail-fast-without-file", code: ExitUsage, args: []string{"demo.sleep", "--fail-fast"}},
		{name: "wait-and-dry-run", code: ExitUsage, args: []string{"demo.sleep", "--wait", "--dry-run"}},
		{name: "wait-timeout-without-wait", code: ExitUsage, args: []string{"demo.sleep", "--wait-timeout", "1s"}},
		{name: "bad-redis-url", code: ExitUsage, args: []string{"demo.sleep", "--redis-url", "http://:hunter2@example.com"}},
		{name: "redis-url-bad-port", code: ExitUsage, args: []string{"demo.sleep", "--redis-url", "redis://u:hunter2@example.com:notaport"}},
		{name: "redis-unreachable", code: ExitError, args: []string{"demo.sleep", "--redis-url", down}},
		{name: "conflict-unique", code: ExitConflict, args: []string{"demo.sleep", `{"ms":1}`, "--unique", "1h"},
			seed: [][]string{{"demo.sleep", `{"ms":1}`, "--unique", "1h"}}},
		{name: "conflict-task-id", code: ExitConflict, args: []string{"demo.sleep", "--task-id", "job-1"},
			seed: [][]string{{"demo.sleep", "--task-id", "job-1"}}},
		{name: "bulk-invalid-lines", code: ExitUsage, args: []string{"--file", "-"}, stdin: bulkMixed},
		{name: "bulk-fail-fast", code: ExitUsage, args: []string{"--file", "-", "--fail-fast"}, stdin: bulkMixed},
		{name: "bulk-missing-file", code: ExitUsage, args: []string{"--file", filepath.Join(dir, "nope.jsonl")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBundle(t)
			for _, s := range tt.seed {
				if r := b.run(t, "", s...); r.code != ExitOK {
					t.Fatalf("seed %v: %+v", s, r)
				}
			}
			r := b.run(t, tt.stdin, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d", r.code, tt.code)
			}
			if !strings.HasPrefix(r.stderr, "enqueue: ") || strings.Contains(r.stderr, "hunter2") ||
				strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("stderr = %q", r.stderr)
			}
			if !strings.HasPrefix(tt.name, "bulk-") && strings.Count(r.stderr, "\n") != 1 {
				t.Errorf("stderr is not one line: %q", r.stderr)
			}
			got := r.String()
			got = strings.ReplaceAll(got, dir, "TMP")
			got = strings.ReplaceAll(got, fmt.Sprint(port), "PORT")
			golden(t, filepath.Join("errors", tt.name+".golden"), got)
		})
	}
}

// bulkMixed has valid, invalid, blank and duplicate lines.
const bulkMixed = `{"type":"demo.sleep","payload":{"ms":1}}
{"type":"demo.sleep","payload":{"ms":"1"}}

{"type":"test.echo","payload":{"msg":"a"},"options":{"queue":"q2","unique":"1h"}}
{"type":"test.echo","payload":{"msg":"a"},"options":{"queue":"q2","unique":"1h"}}
{"type":"demo.sleep","payload":{},"optoins":{}}
{"type":"demo.sleep","options":{"timeout":30}}
{"type":"demo.sleep","options":{"process_in":"soon"}}
not json
{"type":"nope.unknown"}
["demo.sleep"]
{"type":"demo.sleep","options":{"task_id":"fixed"}}
{"type":"demo.sleep","options":{"task_id":"fixed"}}
{"payload":{}}
`
