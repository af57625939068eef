package builtin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/job"
)

// SleepType is the task type of the drill job.
const SleepType = "demo.sleep"

// StepsMax bounds demo.sleep's steps.
const StepsMax = 1_000_000

// SleepPayload is demo.sleep's payload.
type SleepPayload struct {
	// MS is how long to sleep, in milliseconds (each step's, with Steps);
	// 0 is a no-op.
	MS int `json:"ms"`
	// Steps, when above 0, makes the job a long one: Steps steps of MS
	// each, resuming from its checkpoint, logging demo.step and saving its
	// place after each step, reporting progress, and returning
	// job.ErrInterrupted when the worker drains. Without Dedupe the job is
	// deduplicated on its task ID, which fences its checkpoint.
	Steps int `json:"steps,omitempty"`
	// IgnoreCancel sleeps the full MS even when the job's context is
	// cancelled, like a handler stuck in a call that takes no context. Drain
	// and lock drills use it to get a handler the worker must abandon.
	IgnoreCancel bool `json:"ignore_cancel,omitempty"`
	// Fail is "", "transient" (a retryable error), "permanent" (archived)
	// or "panic" (the handler panics: a failed attempt, retried).
	Fail string `json:"fail,omitempty"`
	// Dedupe, Lock and Dependency become the job's dedupe key, lock key and
	// breaker dependency.
	Dedupe     string `json:"dedupe,omitempty"`
	Lock       string `json:"lock,omitempty"`
	Dependency string `json:"dependency,omitempty"`
}

// Validate checks the payload's fields.
func (p SleepPayload) Validate() error {
	if p.MS < 0 {
		return job.FieldError("ms", "must be >= 0, got %d", p.MS)
	}
	if p.Steps < 0 || p.Steps > StepsMax {
		return job.FieldError("steps", "must be 0 to %d, got %d", StepsMax, p.Steps)
	}
	switch p.Fail {
	case "", "transient", "permanent", "panic":
	default:
		return job.FieldError("fail", `must be "", "transient", "permanent" or "panic", got %q`, p.Fail)
	}
	return nil
}

// ErrDrill is the error demo.sleep fails with when asked to.
var ErrDrill = errors.New("demo.sleep: failing as asked")

// Sleep returns the demo.sleep definition.
func Sleep() *job.Definition[SleepPayload] {
	return &job.Definition[SleepPayload]{
		Type:   SleepType,
		Handle: handleSleep,
		DedupeKey: func(p SleepPayload) string {
			if p.Dedupe == "" && p.Steps > 0 {
				return job.ByTaskID(p) // a checkpoint needs a fence
			}
			return p.Dedupe
		},
		Lock: func(p SleepPayload) job.Lock { return job.Lock{Key: p.Lock} },
		Dependencies: func(p SleepPayload) []string {
			if p.Dependency == "" {
				return nil
			}
			return []string{p.Dependency}
		},
	}
}

func handleSleep(ctx context.Context, p SleepPayload) error {
	if p.Steps > 0 {
		if err := runSteps(ctx, p); err != nil {
			return err
		}
		return fail(p.Fail)
	}
	if p.MS > 0 {
		t := time.NewTimer(time.Duration(p.MS) * time.Millisecond)
		defer t.Stop()
		done := ctx.Done()
		if p.IgnoreCancel {
			done = nil // never fires
		}
		select {
		case <-t.C:
		case <-done:
			return fmt.Errorf("demo.sleep: cut short: %w", context.Cause(ctx))
		}
	}
	return fail(p.Fail)
}

// fail fails as the payload's Fail field asks.
func fail(how string) error {
	switch how {
	case "transient":
		return fmt.Errorf("%w (transient)", ErrDrill)
	case "permanent":
		return fmt.Errorf("%w (permanent): %w", ErrDrill, asynq.SkipRetry)
	case "panic":
		panic("demo.sleep: panicking as asked")
	}
	return nil
}

// place is demo.sleep's checkpoint: the number of steps done.
type place struct {
	Step int `json:"step"`
}

// runSteps runs the steps after the checkpoint's: each sleeps p.MS, then is
// logged (demo.step, 1-based), saved as the job's place and reported as
// progress. A drain interrupts it between two steps' saves: the step under
// way runs again on the next worker, and no step is logged twice.
func runSteps(ctx context.Context, p SleepPayload) error {
	var at place
	if _, err := job.Resume(ctx, &at); err != nil {
		return err
	}
	job.Progress(ctx, at.Step, p.Steps)
	log := job.Log(ctx)
	done := ctx.Done()
	if p.IgnoreCancel {
		done = nil // never fires
	}
	for k := at.Step + 1; k <= p.Steps; k++ {
		t := time.NewTimer(time.Duration(p.MS) * time.Millisecond)
		select {
		case <-t.C:
		case <-job.Draining(ctx):
			t.Stop()
			return job.ErrInterrupted // the place after step k-1 is saved
		case <-done:
			t.Stop()
			return fmt.Errorf("demo.sleep: cut short in step %d: %w", k, context.Cause(ctx))
		}
		log.Info().Str("event", "demo.step").Int("step", k).Int("steps", p.Steps).Msg("demo.sleep step done")
		if err := job.Checkpoint(ctx, place{Step: k}); err != nil {
			return err
		}
		job.Progress(ctx, k, p.Steps)
	}
	return nil
}
