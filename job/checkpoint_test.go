package job_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/jobctx"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/resilience"
)

// fakeAttempt stores one checkpoint in memory, as the runner's attempt
// stores it in Redis.
type fakeAttempt struct {
	jobctx.Attempt // nil: only the methods below are called
	saved          []byte
	saves          int
}

func (f *fakeAttempt) Checkpoint(_ context.Context, b []byte) error {
	f.saved, f.saves = b, f.saves+1
	return nil
}

func (f *fakeAttempt) Resume(context.Context) ([]byte, bool, error) {
	return f.saved, f.saved != nil, nil
}

type cursor struct {
	After string `json:"after"`
	Done  int    `json:"done"`
}

func TestCheckpointRoundTrip(t *testing.T) {
	f := &fakeAttempt{}
	ctx := jobctx.With(context.Background(), f)
	var c cursor
	if ok, err := job.Resume(ctx, &c); ok || err != nil || c != (cursor{}) {
		t.Fatalf("Resume with no checkpoint = %v, %v, %+v", ok, err, c)
	}
	if err := job.Checkpoint(ctx, cursor{After: "id-42", Done: 42}); err != nil {
		t.Fatal(err)
	}
	if ok, err := job.Resume(ctx, &c); !ok || err != nil || c != (cursor{After: "id-42", Done: 42}) {
		t.Fatalf("Resume = %v, %v, %+v", ok, err, c)
	}
	// A checkpoint saved with another type than the one resumed into.
	var wrong []int
	if ok, err := job.Resume(ctx, &wrong); ok || err == nil || !strings.Contains(err.Error(), "does not decode into *[]int") {
		t.Fatalf("Resume into the wrong type = %v, %v", ok, err)
	}
}

func TestCheckpointTooLarge(t *testing.T) {
	f := &fakeAttempt{}
	ctx := jobctx.With(context.Background(), f)
	if err := job.Checkpoint(ctx, strings.Repeat("x", job.CheckpointMax-2)); err != nil {
		t.Fatalf("a checkpoint of exactly CheckpointMax bytes: %v", err)
	}
	err := job.Checkpoint(ctx, strings.Repeat("x", job.CheckpointMax-1))
	if !errors.Is(err, job.ErrCheckpointTooLarge) || !resilience.IsPermanent(err) {
		t.Fatalf("Checkpoint over the bound = %v; want ErrCheckpointTooLarge, permanent", err)
	}
	if f.saves != 1 {
		t.Fatalf("%d saves reached the attempt, want only the one within the bound", f.saves)
	}
	if err := job.Checkpoint(ctx, func() {}); err == nil {
		t.Fatal("Checkpoint of a value JSON cannot encode: no error")
	}
}

func TestLongJobCallsOutsideAJob(t *testing.T) {
	ctx := context.Background()
	if err := job.Checkpoint(ctx, 1); err == nil {
		t.Error("Checkpoint outside a job: no error")
	}
	var v int
	if ok, err := job.Resume(ctx, &v); ok || err == nil {
		t.Errorf("Resume outside a job = %v, %v; want an error", ok, err)
	}
	job.Progress(ctx, 1, 2) // does nothing
	if l := job.Log(ctx); l.GetLevel() != zerolog.Disabled {
		t.Errorf("Log outside a job has level %v, want disabled", l.GetLevel())
	}
}
