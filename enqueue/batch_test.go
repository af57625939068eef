package enqueue

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/batchdb"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/job/builtin"
	"github.com/jobrunner/jobrunner/runner"
)

// TestBatchRefusedBeforeWriting: a callback type this binary does not
// know, or a payload it refuses, is a usage error (exit 2) and nothing is
// written; so are --on-complete without --file, and --wait with --file
// without --on-complete.
func TestBatchRefusedBeforeWriting(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	lines := `{"type":"demo.sleep","payload":{"ms":1}}` + "\n"
	for _, args := range [][]string{
		{"--file", "-", "--on-complete", "no.such"},
		{"--file", "-", "--on-complete", echoType, "--on-complete-payload", `{}`},                // msg is required
		{"--file", "-", "--on-complete", echoType, "--on-complete-payload", `{"msg":"a","x":1}`}, // unknown field
		{"--file", "-", "--on-complete", echoType, "--on-complete-payload", `not json`},
		{"--on-complete", echoType, "demo.sleep", `{}`},
		{"--file", "-", "--wait"},
		{"--file", "-", "--on-complete-payload", `{"msg":"a"}`},
	} {
		r := b.run(t, lines, args...)
		if r.code != ExitUsage || r.stdout != "" || r.stderr == "" {
			t.Errorf("%q: %+v, want exit 2 and an error", args, r)
		}
	}
	if ks := b.keys(t); len(ks) != 0 {
		t.Fatalf("refused runs wrote %v", ks)
	}
}

// TestBatchFromFileWithWait: enqueue --file --on-complete puts every line
// in one batch, prints the batch ID and, with --wait, waits for the
// callback, which a worker enqueued once every job finished (one of them
// archived), and prints its result.
func TestBatchFromFileWithWait(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	reg := job.NewRegistry()
	if err := reg.Register(builtin.Sleep(), builtin.BatchReport()); err != nil {
		t.Fatal(err)
	}
	b.cfg.Registry = reg
	log := zerolog.Nop()
	r, err := runner.New(runner.Config{Redis: b.rdb, Logger: &log, PollInterval: 10 * time.Millisecond,
		DelayedCheckInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Register(builtin.Sleep(), builtin.BatchReport()); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })

	var in strings.Builder
	for range 5 {
		in.WriteString(`{"type":"demo.sleep","payload":{"ms":20}}` + "\n")
	}
	in.WriteString(`{"type":"demo.sleep","payload":{"fail":"permanent"},"options":{"task_id":"bad"}}` + "\n")
	res := b.run(t, in.String(), "--file", "-", "--on-complete", builtin.ReportType,
		"--on-complete-payload", `{"note":"nightly"}`, "--wait", "--wait-timeout", "30s")
	if res.code != ExitOK {
		t.Fatalf("run: %+v", res)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if len(lines) != 5 || lines[0] != "enqueued 6, duplicates 0, invalid 0" || !strings.HasPrefix(lines[1], "batch ") {
		t.Fatalf("stdout:\n%s", res.stdout)
	}
	id := strings.TrimPrefix(lines[1], "batch ")
	if !strings.HasPrefix(lines[3], "completed "+batchdb.CallbackTaskID(id)+" in ") {
		t.Fatalf("stdout:\n%s", res.stdout)
	}
	var rep builtin.Report
	if err := json.Unmarshal([]byte(lines[4]), &rep); err != nil {
		t.Fatalf("result %q: %v", lines[4], err)
	}
	if rep.Batch != id || rep.Note != "nightly" || rep.Total != 6 || rep.Succeeded != 5 || rep.Archived != 1 ||
		len(rep.ArchivedIDs) != 1 || rep.ArchivedIDs[0] != "bad" {
		t.Fatalf("report %+v", rep)
	}
}
