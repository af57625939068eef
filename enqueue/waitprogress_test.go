package enqueue

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
)

// progressHandler reports progress 1/3, 2/3, 3/3 on each task as the
// runner writes job.Progress, 150ms apart, then completes.
func progressHandler(b *testBundle) asynq.HandlerFunc {
	return func(ctx context.Context, task *asynq.Task) error {
		id, _ := asynq.GetTaskID(ctx)
		for i := 1; i <= 3; i++ {
			if err := asynqdb.SetProgress(ctx, b.rdb, "default", id, i, 3); err != nil {
				return err
			}
			time.Sleep(150 * time.Millisecond)
		}
		return nil
	}
}

// TestWaitShowsProgress: --wait --output json prints one object per change
// of the job's progress, with done and total, before the outcome; in text,
// a terminal gets a bar with a rate on stderr, and anything else nothing.
func TestWaitShowsProgress(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	startWorker(t, b.rdb, progressHandler(b), "default")

	t.Run("json", func(t *testing.T) {
		r := b.run(t, "", "--wait", "--output", "json", "--wait-timeout", "20s", "--task-id", "pj", echoType, `{"msg":"x"}`)
		if r.code != ExitOK || r.stderr != "" {
			t.Fatalf("run = %+v", r)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		last := 0
		for i, line := range lines[:len(lines)-1] {
			var p progressJSON
			if err := json.Unmarshal([]byte(line), &p); err != nil || p.ID != "pj" || p.Queue != "default" || p.Total != 3 || p.Done <= last {
				t.Fatalf("line %d %q: want a progress object whose done grows", i, line)
			}
			last = p.Done
		}
		if last != 3 || len(lines) < 3 {
			t.Fatalf("progress lines end at %d of %d lines, want 3/3 and more than one report:\n%s", last, len(lines), r.stdout)
		}
		var outcome taskJSON
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &outcome); err != nil || outcome.State != "completed" || outcome.ID != "pj" {
			t.Fatalf("last line %q: want the completed task", lines[len(lines)-1])
		}
	})

	t.Run("text", func(t *testing.T) {
		r := b.run(t, "", "--wait", "--wait-timeout", "20s", "--task-id", "pt", echoType, `{"msg":"x"}`)
		if r.code != ExitOK || r.stderr != "" || !strings.Contains(r.stdout, "completed pt in ") {
			t.Fatalf("not a terminal: run = %+v", r)
		}
	})

	t.Run("terminal", func(t *testing.T) {
		tb := *b
		tb.cfg.isTerminal = func(io.Writer) bool { return true }
		r := tb.run(t, "", "--wait", "--wait-timeout", "20s", "--task-id", "pb", echoType, `{"msg":"x"}`)
		if r.code != ExitOK || !strings.Contains(r.stdout, "completed pb in ") {
			t.Fatalf("run = %+v", r)
		}
		if !strings.Contains(r.stderr, "] 3/3 100%") || !strings.Contains(r.stderr, "/s") || !strings.HasSuffix(r.stderr, "\n") {
			t.Fatalf("stderr %q: want a bar reaching 3/3 with a rate, its line ended", r.stderr)
		}
	})
}

func TestRateBar(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	now := time.Unix(0, 0)
	b := &rateBar{w: &out, now: func() time.Time { return now }}
	b.update(10, 100)
	now = now.Add(2 * time.Second)
	b.update(30, 100)
	if got := out.String(); !strings.HasSuffix(got, "] 30/100  30%, 10/s, about 7s left\x1b[K") {
		t.Fatalf("bar %q: want 20 units in 2s, 10/s, 70 left", got)
	}
	out.Reset()
	now = now.Add(time.Second)
	b.update(5, 0) // went back, total unknown
	if got := out.String(); got != "\r5 done\x1b[K" {
		t.Fatalf("bar %q", got)
	}
	b.breakLine()
	if !strings.HasSuffix(out.String(), "\n") {
		t.Fatal("breakLine did not end the line")
	}
}
