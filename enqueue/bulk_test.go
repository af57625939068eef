package enqueue

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

func TestBulkFromFile(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	deadline := time.Now().Add(3 * time.Hour).Truncate(time.Second).UTC()
	lines := []string{
		`{"type":"demo.sleep","payload":{"ms":1},"options":{"task_id":"a"}}`,
		`{"type":"test.echo","payload":{"msg":"hi"},"options":{"queue":"q2","max_retry":2,"timeout":"45s","deadline":"` +
			deadline.Format(time.RFC3339) + `","unique":"1h","task_id":"b","retention":"10m"}}`,
		`{"type":"demo.sleep","payload":{"ms":2},"options":{"process_in":"1h","task_id":"c"}}`,
		`{"type":"demo.sleep","payload":{"ms":3},"options":{"process_at":"2099-01-01T00:00:00Z","unique":"1h","task_id":"d"}}`,
		`{"type":"other.kind","payload":[1,2],"options":{"task_id":"e"}}`,
	}
	path := filepath.Join(t.TempDir(), "jobs.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Flags are defaults for every line: --queue moves "a" and "e".
	r := b.run(t, "", "--file", path, "--allow-unknown", "--queue", "bulkq", "--output", "json")
	if r.code != ExitOK || r.stderr != "" {
		t.Fatalf("run = %+v", r)
	}
	var sum bulkSummary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum.Enqueued != 5 || sum.Valid != 5 {
		t.Fatalf("summary = %s (%v)", r.stdout, err)
	}
	insp := b.inspector()
	get := func(q, id string) *asynq.TaskInfo {
		t.Helper()
		info, err := insp.GetTaskInfo(q, id)
		if err != nil {
			t.Fatalf("GetTaskInfo(%s, %s): %v", q, id, err)
		}
		return info
	}
	if a := get("bulkq", "a"); a.State != asynq.TaskStatePending || a.Type != "demo.sleep" || string(a.Payload) != `{"ms":1}` ||
		a.MaxRetry != 25 || a.Timeout != 30*time.Minute {
		t.Errorf("a = %+v", a)
	}
	if bb := get("q2", "b"); bb.State != asynq.TaskStatePending || bb.MaxRetry != 2 || bb.Timeout != 45*time.Second ||
		!bb.Deadline.Equal(deadline) || bb.Retention != 10*time.Minute {
		t.Errorf("b = %+v", bb)
	}
	if c := get("bulkq", "c"); c.State != asynq.TaskStateScheduled || time.Until(c.NextProcessAt) < 59*time.Minute {
		t.Errorf("c = %+v", c)
	}
	if d := get("bulkq", "d"); d.State != asynq.TaskStateScheduled || d.NextProcessAt.Year() != 2099 {
		t.Errorf("d = %+v", d)
	}
	if e := get("bulkq", "e"); e.Type != "other.kind" || string(e.Payload) != "[1,2]" {
		t.Errorf("e = %+v", e)
	}
	queues, _ := insp.Queues()
	slices.Sort(queues)
	if fmt.Sprint(queues) != "[bulkq q2]" {
		t.Errorf("queues = %v", queues)
	}
	// Running it again: every line is a duplicate, counted, not fatal.
	r = b.run(t, "", "--file", path, "--allow-unknown", "--queue", "bulkq")
	if r.code != ExitOK || r.stdout != "enqueued 0, duplicates 5 (lines 1, 2, 3, 4, 5), invalid 0\n" {
		t.Fatalf("rerun = %+v", r)
	}
}

func TestBulkInvalidLines(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	// With --fail-fast nothing is written at all.
	r := b.run(t, bulkMixed, "--file", "-", "--fail-fast")
	if r.code != ExitUsage {
		t.Fatalf("fail-fast: %+v", r)
	}
	if ks := b.keys(t); len(ks) != 0 {
		t.Fatalf("fail-fast wrote %v", ks)
	}
	// Without it the valid lines go in, each one whole.
	r = b.run(t, bulkMixed, "--file", "-", "--output", "json")
	if r.code != ExitUsage {
		t.Fatalf("run: %+v", r)
	}
	var sum bulkSummary
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatal(err)
	}
	var bad []int
	for _, le := range sum.InvalidLines {
		bad = append(bad, le.Line)
	}
	if sum.Enqueued != 3 || sum.Duplicates != 2 || fmt.Sprint(sum.DuplicateLines) != "[5 13]" ||
		fmt.Sprint(bad) != "[2 6 7 8 9 10 11 14]" {
		t.Fatalf("summary = %+v", sum)
	}
	insp := b.inspector()
	for q, want := range map[string]int{"default": 2, "q2": 1} {
		tasks, err := insp.ListPendingTasks(q)
		if err != nil || len(tasks) != want {
			t.Fatalf("%s: %d pending (%v), want %d", q, len(tasks), err, want)
		}
		for _, ti := range tasks {
			if ti.Type == "" || len(ti.Payload) == 0 || ti.MaxRetry != 25 {
				t.Fatalf("half-written task %+v", ti)
			}
		}
	}
}

func TestBulkEmptyAndBlank(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	r := b.run(t, "\n  \n", "--file", "-")
	if r.code != ExitOK || r.stdout != "enqueued 0, duplicates 0, invalid 0\n" {
		t.Fatalf("run = %+v", r)
	}
}

func TestBulkLongLine(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	in := `{"type":"test.echo","payload":{"msg":"` + strings.Repeat("x", 70<<10) + `"}}` + "\n" +
		`{"type":"test.echo","payload":{"msg":"` + strings.Repeat("x", 2000) + `"}}` + "\n" +
		`{"type":"test.echo","payload":{"msg":"ok"}}` + "\n"
	r := b.run(t, in, "--file", "-", "--max-payload-bytes", "1024")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "stdin:1: line is longer than 66560 bytes") ||
		!strings.Contains(r.stderr, "stdin:2: job test.echo: payload is 2010 bytes, over the limit of 1024") ||
		!strings.HasPrefix(r.stdout, "enqueued 1,") {
		t.Fatalf("run = %+v", r)
	}
}

func TestBulkProgressOnlyOnTerminal(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	var in strings.Builder
	for i := range 25 {
		fmt.Fprintf(&in, `{"type":"demo.sleep","payload":{"ms":%d}}`+"\n", i)
	}
	b.cfg.BatchSize = 10
	r := b.run(t, in.String(), "--file", "-")
	if r.code != ExitOK || r.stderr != "" {
		t.Fatalf("not a terminal: %+v", r)
	}
	b.cfg.isTerminal = func(io.Writer) bool { return true }
	r = b.run(t, in.String(), "--file", "-", "--allow-unknown")
	if r.code != ExitOK || !strings.Contains(r.stderr, "] 25/25 100%") || !strings.HasSuffix(r.stderr, "\n") ||
		r.stdout != "enqueued 0, duplicates 0, invalid 0\n" && !strings.HasPrefix(r.stdout, "enqueued 25,") {
		t.Fatalf("terminal: %+v", r)
	}
}
