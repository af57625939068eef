package enqueue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/redact"
	"github.com/jobrunner/jobrunner/job"
)

// pollMin is the first interval between two looks at a waited-for task;
// it doubles up to Config.pollMax.
const pollMin = 50 * time.Millisecond

// wait polls the task's state until it is completed or archived, prints
// the job's progress as it changes (see waitProgress) and the outcome, and
// returns the exit status: ExitOK, ExitArchived,
// ExitWaitTimeout, ExitInterrupted when ctx is cancelled, or ExitError when
// the task vanished or Redis failed. start is when the task was enqueued:
// the outcome line says how long it took from there until this poll saw
// it, so the figure can run over by up to one poll interval.
func (c *cli) wait(ctx context.Context, rdb redis.UniversalClient, enqueued *asynq.TaskInfo, start time.Time) int {
	text := c.f.output == "text"
	if text {
		fmt.Fprintf(c.stdout, "enqueued %s on queue %s\n", enqueued.ID, enqueued.Queue)
	}
	if c.f.waitTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, c.f.waitTimeout, errWaitTimeout)
		defer cancel()
	}
	clean := c.errorCleaner()
	progress := c.newWaitProgress(enqueued)
	defer progress.breakLine()
	last := enqueued
	interval := pollMin
	seenFailures := 0
	for {
		info, err := c.pollTask(ctx, rdb, enqueued)
		if err == nil {
			info.LastErr = clean(info.LastErr)
		}
		switch {
		case errors.Is(err, asynqdb.ErrNotFound):
			return c.fail(ExitError, fmt.Errorf("task %s vanished from queue %s while waiting: deleted, or its retention expired", enqueued.ID, enqueued.Queue))
		case err != nil && ctx.Err() == nil:
			return c.fail(ExitError, fmt.Errorf("wait for task %s: %v", enqueued.ID, err))
		case err == nil:
			last = info
		}
		took := time.Since(start).Round(time.Millisecond)
		progress.poll(ctx, rdb, last.State)
		if last.State == asynq.TaskStateCompleted || last.State == asynq.TaskStateArchived {
			progress.breakLine()
		}
		switch last.State {
		case asynq.TaskStateCompleted:
			skipped := c.skipReason(ctx, rdb, last)
			if !text {
				j := taskJSONOf(last)
				j.Skipped = skipped
				return c.printJSON(j)
			}
			if skipped != "" {
				why := skipped
				if skipped == "duplicate_done" {
					why += ": a job with the same dedupe key already ran"
				}
				fmt.Fprintf(c.stdout, "skipped %s in %v (%s; this task completed without running)\n", last.ID, took, why)
			} else {
				fmt.Fprintf(c.stdout, "completed %s in %v\n", last.ID, took)
			}
			if len(last.Result) > 0 {
				c.stdout.Write(last.Result)
				if !bytes.HasSuffix(last.Result, []byte("\n")) {
					fmt.Fprintln(c.stdout)
				}
			}
			return ExitOK
		case asynq.TaskStateArchived:
			if text {
				fmt.Fprintf(c.stdout, "archived %s in %v after %s\n", last.ID, took, attempts(last.Retried+1))
			} else {
				c.printJSON(taskJSONOf(last))
			}
			return c.fail(ExitArchived, fmt.Errorf("task %s archived after %s: %s", last.ID, attempts(last.Retried+1), last.LastErr))
		}
		// A failed attempt that will be retried: say so once per failure
		// seen (attempts between two polls are counted, not listed).
		if text && last.Retried > seenFailures && last.LastErr != "" {
			progress.breakLine()
			seenFailures = last.Retried
			fmt.Fprintf(c.stdout, "failed %s in %v (attempt %d), retrying: %s\n", last.ID, took, last.Retried, oneLine(last.LastErr))
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			progress.breakLine()
			if !text {
				c.printJSON(taskJSONOf(last))
			}
			if errors.Is(context.Cause(ctx), errWaitTimeout) {
				return c.fail(ExitWaitTimeout, fmt.Errorf("task %s still %s after %v (--wait-timeout); it stays queued", last.ID, last.State, c.f.waitTimeout))
			}
			return c.fail(ExitInterrupted, fmt.Errorf("interrupted while waiting for task %s (%s); it stays queued", last.ID, last.State))
		case <-t.C:
		}
		interval = min(2*interval, c.cfg.pollMax)
	}
}

var errWaitTimeout = errors.New("wait timeout")

// pollTask reads the task's info once, within DialTimeout: a Redis that
// hangs fails the poll instead of holding it.
func (c *cli) pollTask(ctx context.Context, rdb redis.UniversalClient, task *asynq.TaskInfo) (*asynq.TaskInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	return readTaskInfo(ctx, rdb, task.Queue, task.ID, c.cfg.now())
}

// errorTextMax caps the error text --wait prints, as the runner caps what
// it stores.
const errorTextMax = 2 << 10

// errorCleaner returns the function that sanitizes a task's last error
// for --wait; it remembers the last text, so a poll that sees the same
// error again costs nothing.
func (c *cli) errorCleaner() func(string) string {
	clean := errorSanitizer(c.cfg, c.redisSecrets)
	var raw, cleaned string
	return func(s string) string {
		if s != raw {
			raw, cleaned = s, clean(s)
		}
		return cleaned
	}
}

// errorSanitizer returns the function that sanitizes the error texts of
// tasks that --wait prints and the API answers: the default rules,
// cfg.Sanitizer's and the Redis URL's passwords, then cut to 2 KB. It is
// safe for concurrent use.
func errorSanitizer(cfg Config, redisSecrets []string) func(string) string {
	sc := cfg.Sanitizer
	sc.Secrets = append(slices.Clip(sc.Secrets), redisSecrets...)
	san := job.NewSanitizer(sc)
	return func(s string) string {
		if s == "" {
			return ""
		}
		return redact.Truncate(san.Sanitize(s), errorTextMax, len(s))
	}
}

// skipReason returns why a completed task did not run (the runner notes a
// duplicate skipped by its dedupe key on the task), or "" when it ran. A
// failed read counts as ran: the task did complete.
func (c *cli) skipReason(ctx context.Context, rdb redis.UniversalClient, info *asynq.TaskInfo) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.DialTimeout)
	defer cancel()
	reason, _ := asynqdb.SkippedReason(ctx, rdb, info.Queue, info.ID)
	return reason
}

// attempts returns "1 attempt" or "n attempts".
func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}
