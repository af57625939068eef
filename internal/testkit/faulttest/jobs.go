package faulttest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/job"
)

// WorkType is the task type of WorkJob.
const WorkType = "fault.work"

// WorkPayload is fault.work's payload.
type WorkPayload struct {
	// ID names the job in the ledger. Required.
	ID string `json:"id"`
	// MS is how long the handler works, in milliseconds.
	MS int `json:"ms,omitempty"`
	// IgnoreCancel works the full MS even when the context is cancelled.
	IgnoreCancel bool `json:"ignore_cancel,omitempty"`
	// Lock is the lock key; LockTTLMS and LockWaitMS its TTL and wait
	// (0: the job package defaults).
	Lock       string `json:"lock,omitempty"`
	LockTTLMS  int    `json:"lock_ttl_ms,omitempty"`
	LockWaitMS int    `json:"lock_wait_ms,omitempty"`
	// Dedupe is the dedupe key.
	Dedupe string `json:"dedupe,omitempty"`
	// Dependency is the job's one dependency: its breaker, and its limit
	// when the worker has one for it (WORKER_DEPENDENCY_LIMITS).
	Dependency string `json:"dependency,omitempty"`
	// Fail is "", "transient" (a retryable error), "permanent" (archived)
	// or "panic"; FailTimes limits it to the first N handler entries of the
	// job (0: every entry).
	Fail      string `json:"fail,omitempty"`
	FailTimes int    `json:"fail_times,omitempty"`
	// Pad makes the payload as large as a test wants.
	Pad string `json:"pad,omitempty"`
}

// Validate checks the payload's fields.
func (p WorkPayload) Validate() error {
	switch {
	case p.ID == "":
		return job.FieldError("id", "is required")
	case p.MS < 0:
		return job.FieldError("ms", "must be >= 0, got %d", p.MS)
	case p.FailTimes < 0:
		return job.FieldError("fail_times", "must be >= 0, got %d", p.FailTimes)
	}
	switch p.Fail {
	case "", "transient", "permanent", "panic":
	default:
		return job.FieldError("fail", `must be "", "transient", "permanent" or "panic", got %q`, p.Fail)
	}
	return nil
}

// ErrTransient is the error fault.work fails with when asked to.
var ErrTransient = errors.New("fault.work: transient failure as asked")

// WorkRetryDelay is fault.work's backoff: short, so that retries come back
// within a test.
func WorkRetryDelay(int, error) time.Duration {
	return 100*time.Millisecond + rand.N(100*time.Millisecond)
}

// WorkJob returns the fault.work definition reporting to l as process proc.
func WorkJob(l *Ledger, proc string) *job.Definition[WorkPayload] {
	w := &worker{ledger: l, proc: proc}
	return &job.Definition[WorkPayload]{
		Type:      WorkType,
		Handle:    w.handle,
		Timeout:   30 * time.Second,
		MaxRetry:  10,
		Backoff:   WorkRetryDelay,
		DedupeKey: func(p WorkPayload) string { return p.Dedupe },
		Lock: func(p WorkPayload) job.Lock {
			return job.Lock{Key: p.Lock, TTL: ms(p.LockTTLMS), Wait: ms(p.LockWaitMS)}
		},
		Dependencies: func(p WorkPayload) []string {
			if p.Dependency == "" {
				return nil
			}
			return []string{p.Dependency}
		},
	}
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

type worker struct {
	ledger *Ledger
	proc   string
	// runPrefix keeps the run names of two job types of one process apart.
	runPrefix string
	runs      atomic.Int64
}

func (w *worker) handle(ctx context.Context, p WorkPayload) error {
	// The ledger is written whatever happens to the job's context.
	lctx := context.WithoutCancel(ctx)
	attempt, err := w.ledger.Attempt(lctx, p.ID)
	if err != nil {
		return fmt.Errorf("fault.work: ledger: %w", err)
	}
	ev := Event{
		Run: w.proc + "/" + w.runPrefix + strconv.FormatInt(w.runs.Add(1), 10), ID: p.ID, Proc: w.proc,
		Lock: p.Lock, Dedupe: p.Dedupe, Dep: p.Dependency, Attempt: attempt, UnixNano: time.Now().UnixNano(),
	}
	if p.Lock != "" {
		ev.Fence = -1
		if f, ok := job.Fence(ctx); ok {
			ev.Fence = f
		}
	}
	ok, err := w.ledger.Begin(lctx, ev)
	if err != nil {
		return fmt.Errorf("fault.work: ledger: %w", err)
	}
	finish := func(outcome string, cause error, effect bool) (bool, error) {
		ev.Outcome, ev.UnixNano = outcome, time.Now().UnixNano()
		if cause != nil {
			ev.Cause, ev.LockLost = cause.Error(), errors.Is(cause, lockcore.ErrLockLost)
		}
		return w.ledger.Finish(lctx, ev, effect)
	}
	if !ok {
		_, _ = finish("stale", nil, false)
		return fmt.Errorf("fault.work %s: fence %d of lock %q is stale: a later holder got there first", p.ID, ev.Fence, p.Lock)
	}
	if p.Fail != "" && (p.FailTimes == 0 || attempt <= p.FailTimes) {
		switch p.Fail {
		case "transient":
			_, _ = finish("failed", nil, false)
			return fmt.Errorf("%w (job %s, entry %d)", ErrTransient, p.ID, attempt)
		case "permanent":
			_, _ = finish("failed", nil, false)
			return fmt.Errorf("fault.work %s: permanent failure as asked: %w", p.ID, asynq.SkipRetry)
		case "panic":
			_, _ = finish("panic", nil, false)
			panic(fmt.Sprintf("fault.work %s: panicking as asked", p.ID))
		}
	}
	if p.MS > 0 {
		t := time.NewTimer(ms(p.MS))
		defer t.Stop()
		done := ctx.Done()
		if p.IgnoreCancel {
			done = nil
		}
		select {
		case <-t.C:
		case <-done:
			cause := context.Cause(ctx)
			_, _ = finish("cancelled", cause, false)
			return fmt.Errorf("fault.work %s: cut short: %w", p.ID, cause)
		}
	}
	applied, err := finish("done", context.Cause(ctx), true)
	if err != nil {
		return fmt.Errorf("fault.work: ledger: %w", err)
	}
	if !applied {
		return fmt.Errorf("fault.work %s: write refused: fence %d of lock %q is stale", p.ID, ev.Fence, p.Lock)
	}
	return nil
}
