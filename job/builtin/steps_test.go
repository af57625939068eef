package builtin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/jobctx"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/job/builtin"
)

// stepAttempt is a job's attempt as demo.sleep's steps reach it: a
// checkpoint in memory, progress and log lines recorded, a drain channel.
type stepAttempt struct {
	jobctx.Attempt // nil: only the methods below are called
	drain          chan struct{}

	mu         sync.Mutex
	checkpoint []byte
	progress   []int
	logs       bytes.Buffer
	log        zerolog.Logger
}

func newStepAttempt(checkpoint string) *stepAttempt {
	a := &stepAttempt{drain: make(chan struct{})}
	if checkpoint != "" {
		a.checkpoint = []byte(checkpoint)
	}
	a.log = zerolog.New(&a.logs)
	return a
}

func (a *stepAttempt) Draining() <-chan struct{} { return a.drain }
func (a *stepAttempt) Log() *zerolog.Logger      { return &a.log }

func (a *stepAttempt) Checkpoint(_ context.Context, b []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checkpoint = b
	return nil
}

func (a *stepAttempt) Resume(context.Context) ([]byte, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.checkpoint, a.checkpoint != nil, nil
}

func (a *stepAttempt) Progress(_ context.Context, done, total int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.progress = append(a.progress, done*1000+total)
}

// steps returns the steps of the demo.step lines logged.
func (a *stepAttempt) steps(t *testing.T) []int {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []int
	for _, line := range strings.Split(strings.TrimSpace(a.logs.String()), "\n") {
		var l struct {
			Event string `json:"event"`
			Step  int    `json:"step"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil || l.Event != "demo.step" {
			t.Fatalf("log line %q", line)
		}
		out = append(out, l.Step)
	}
	return out
}

func TestSleepStepsResumeFromTheCheckpoint(t *testing.T) {
	t.Parallel()
	a := newStepAttempt(`{"step":3}`)
	if _, err := runSleep(jobctx.With(context.Background(), a), t, `{"steps":5,"ms":1}`); err != nil {
		t.Fatal(err)
	}
	if got := a.steps(t); len(got) != 2 || got[0] != 4 || got[1] != 5 {
		t.Fatalf("steps logged %v, want [4 5]", got)
	}
	if string(a.checkpoint) != `{"step":5}` {
		t.Fatalf("checkpoint %s, want step 5", a.checkpoint)
	}
	if want := []int{3005, 4005, 5005}; len(a.progress) != 3 || a.progress[0] != want[0] || a.progress[2] != want[2] {
		t.Fatalf("progress %v, want 3/5, 4/5, 5/5", a.progress)
	}
}

func TestSleepStepsStopOnDrain(t *testing.T) {
	t.Parallel()
	a := newStepAttempt("")
	close(a.drain)
	if _, err := runSleep(jobctx.With(context.Background(), a), t, `{"steps":5,"ms":10000}`); !errors.Is(err, job.ErrInterrupted) {
		t.Fatalf("err = %v, want job.ErrInterrupted", err)
	}
	if a.checkpoint != nil || a.logs.Len() != 0 {
		t.Fatalf("a drained step was saved (%s) or logged (%s)", a.checkpoint, a.logs.String())
	}
}

func TestSleepStepsFenced(t *testing.T) {
	t.Parallel()
	for payload, want := range map[string]bool{
		`{"steps":3}`:                 true, // deduplicated on its task ID
		`{"steps":3,"dedupe":"k"}`:    false,
		`{"ms":3}`:                    false,
		`{"steps":3,"lock":"shared"}`: true,
	} {
		p, err := builtin.Sleep().Prepare([]byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		if p.DedupeByTaskID != want {
			t.Errorf("%s: DedupeByTaskID = %v, want %v", payload, p.DedupeByTaskID, want)
		}
	}
	if _, err := builtin.Sleep().Prepare([]byte(`{"steps":-1}`)); err == nil {
		t.Error("steps -1: no error")
	}
}
