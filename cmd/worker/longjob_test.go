package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// TestLongJobAcrossRollingRestarts is a rolling restart driven from
// outside, as an operator meets it: the enqueue binary waits (--wait
// --output json) for a 15-step demo.sleep while three workers in a row are
// SIGTERMed in the middle of it, each after a fresh worker has come up.
// Each drain interrupts the job between two steps' checkpoints and requeues
// it without spending an attempt; the next worker resumes from the place
// saved. The job completes once, each step is logged (demo.step) exactly
// once, and the producer sees its progress grow before the outcome.
func TestLongJobAcrossRollingRestarts(t *testing.T) {
	srv := redistest.Start(t)
	env := []string{"LOG_LEVEL=info", "WORKER_POLL_INTERVAL=20ms"}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	enq := exec.CommandContext(ctx, workertest.Build(t, "./cmd/enqueue"), "--wait", "--output", "json", "--wait-timeout", "90s",
		"--task-id", "long-1", "demo.sleep", `{"steps":15,"ms":200}`)
	enq.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "REDIS_URL=" + srv.URL(), "GORACE=atexit_sleep_ms=0"}
	var stderr strings.Builder
	enq.Stderr = &stderr
	out, err := enq.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	ws := []*workertest.Worker{workertest.Start(t, srv, env)}
	if err := enq.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan []string, 1)
	go func() {
		var ls []string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			ls = append(ls, sc.Text())
		}
		lines <- ls
	}()

	for round := range 3 {
		cur := ws[len(ws)-1]
		// Let the worker run two steps of its own, then roll it.
		steps := 0
		if _, ok := cur.WaitFor(30*time.Second, func(l workertest.Line) bool {
			if l.Str("event") == "demo.step" {
				steps++
			}
			return steps == 2
		}); !ok {
			t.Fatalf("round %d: the worker ran %d steps; its log:\n%s", round+1, steps, cur.Raw())
		}
		ws = append(ws, workertest.Start(t, srv, env))
		cur.Signal(syscall.SIGTERM)
		if code := cur.Wait(30 * time.Second); code != 0 {
			t.Fatalf("round %d: the SIGTERMed worker exited %d, want 0 (a clean drain)", round+1, code)
		}
		if d := cur.Lines("job.deferred"); len(d) != 1 || d[0].Str("reason") != "interrupted" {
			t.Fatalf("round %d: the SIGTERMed worker's deferrals %v, want one, interrupted", round+1, d)
		}
	}
	last := ws[len(ws)-1]
	if _, ok := last.WaitFor(60*time.Second, func(l workertest.Line) bool { return l.Str("event") == "job.done" }); !ok {
		t.Fatalf("the last worker never completed the job; its log:\n%s", last.Raw())
	}
	if err := enq.Wait(); err != nil {
		t.Fatalf("enqueue --wait: %v; stderr:\n%s", err, stderr.String())
	}

	// Each step logged exactly once, in order, across the four workers,
	// all by the job's first attempt; one completion.
	var steps []int
	done := 0
	for _, w := range ws {
		for _, l := range w.Lines("demo.step") {
			if l.Str("task_id") != "long-1" || l.Str("type") != "demo.sleep" || l.Int("attempt") != 1 {
				t.Errorf("demo.step line %v: want the job's task_id, type and attempt 1", l)
			}
			steps = append(steps, l.Int("step"))
		}
		done += len(w.Lines("job.done"))
	}
	for i, s := range steps {
		if s != i+1 {
			t.Fatalf("steps logged %v, want 1 to 15, each once", steps)
		}
	}
	if len(steps) != 15 || done != 1 {
		t.Fatalf("steps logged %v and %d completions, want 1 to 15 and one", steps, done)
	}

	// The producer saw the progress grow, then the completed task with no
	// attempt spent.
	ls := <-lines
	var progress []int
	for _, line := range ls[:len(ls)-1] {
		var p struct {
			ID          string
			Done, Total int
		}
		if err := json.Unmarshal([]byte(line), &p); err != nil || p.ID != "long-1" || p.Total != 15 {
			t.Fatalf("enqueue line %q: want a progress object of long-1 out of 15", line)
		}
		progress = append(progress, p.Done)
	}
	var outcome struct {
		State   string
		Retried int
	}
	if err := json.Unmarshal([]byte(ls[len(ls)-1]), &outcome); err != nil || outcome.State != "completed" || outcome.Retried != 0 {
		t.Fatalf("enqueue's last line %q: want the task completed with no retry", ls[len(ls)-1])
	}
	if len(progress) < 4 || progress[len(progress)-1] != 15 {
		t.Fatalf("progress seen %v: want several reports, ending at 15", progress)
	}
	t.Logf("progress seen by enqueue --wait: %v", progress)
}
