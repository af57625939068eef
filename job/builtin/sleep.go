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

// SleepPayload is demo.sleep's payload.
type SleepPayload struct {
	// MS is how long to sleep, in milliseconds; 0 is a no-op.
	MS int `json:"ms"`
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
		Type:      SleepType,
		Handle:    handleSleep,
		DedupeKey: func(p SleepPayload) string { return p.Dedupe },
		Lock:      func(p SleepPayload) job.Lock { return job.Lock{Key: p.Lock} },
		Dependencies: func(p SleepPayload) []string {
			if p.Dependency == "" {
				return nil
			}
			return []string{p.Dependency}
		},
	}
}

func handleSleep(ctx context.Context, p SleepPayload) error {
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
	switch p.Fail {
	case "transient":
		return fmt.Errorf("%w (transient)", ErrDrill)
	case "permanent":
		return fmt.Errorf("%w (permanent): %w", ErrDrill, asynq.SkipRetry)
	case "panic":
		panic("demo.sleep: panicking as asked")
	}
	return nil
}
