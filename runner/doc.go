// Package runner is the jobrunner worker: it pulls tasks from Redis through
// asynq and runs each registered job through one middleware chain.
// Handlers import package job only; the runner puts what job's functions
// read (job.Draining, job.Fence, job.WriteResult, job.Call, job.Checkpoint,
// job.Resume, job.Progress, job.Log) in each job's context.
//
// # Middleware order
//
// Outer to inner, every attempt passes through:
//
//  1. observe: logs the attempt (job.started at debug, then exactly one of
//     job.done, job.failed, job.skipped, job.deferred), records metrics,
//     recovers a panic raised by a layer, and sanitizes the attempt's
//     error (see Error text below).
//  2. bound: a job deferred for longer than its MaxDeferral is archived
//     (deferred_too_long).
//  3. track: counts the attempt as in flight for the shutdown coordinator.
//  4. decode: decodes the payload strictly; a bad payload is archived, an
//     unknown type waits without spending attempts.
//  5. dedupe: a job key runs once; duplicates are deferred or skipped.
//  6. lock: mutual exclusion per key across replicas, renewed while running.
//  7. breaker: an open dependency defers the job instead of calling it.
//  8. limit: a dependency's concurrency cap or rate limit across replicas
//     defers the job instead of exceeding it.
//  9. classify: maps the handler's error to retry, archive or deferral.
//  10. the middleware added with Use, in the order given.
//  11. the job's handler. A panic in it, or in Use's middleware, fails the
//     attempt like an error.
//
// Every layer releases what it took in a deferred call, so no error and no
// panic leaves a lock renewed or a marker held.
//
// # Deferral
//
// A deferred job did not run and did not fail: asynq reschedules it without
// counting an attempt, for at most Config.MaxDeferral. asynq v0.26 archives
// any error on the last attempt, so a deferral there re-enqueues a copy of
// the task (same type, payload, queue and headers, a derived task ID, the
// retries it had left, its timeout, deadline, retention and uniqueness
// lock) and revokes the original; the copy keeps the original ID in its
// jobrunner-origin header.
//
// # Retries
//
// A failed attempt is retried by the queue after the job's Backoff, else
// Config.RetryBackoff (job.RetryLong: 25 retries over about three weeks),
// or after the callee's job.RetryAfter hint, capped by
// Config.MaxRetryAfter.
//
// # Locks, dedupe and breakers
//
// The dedupe layer admits a job under its dedupe key and takes its lock in
// one Redis round trip (an admission script) and completes both in one
// round trip; the lock layer renews what was admitted through one renewal
// loop per worker and cancels the handler with lockstore.ErrLockLost if a
// lease is lost. The breaker layer checks the job's dependencies against
// the runner's resilience.Registry; an open one defers the job.
//
// # Shutdown
//
// Shutdown (and Run, when its context ends) drains: readiness turns 503,
// fetching stops, in-flight jobs run on until Config.ShutdownTimeout, then
// their contexts are cancelled with cause job.ErrShutdown and they get
// Config.HardStopGrace to return; they are requeued without counting an
// attempt. A handler that ignores cancellation is handed over: its task is
// marked in Redis and requeued, and its marker and lock keep the next run
// deferred until it returns, or until AbandonedExpiry after Shutdown
// returns; Shutdown then returns a *DrainError. Cleanup callbacks
// registered with OnShutdown run last, in reverse order. Config.MaxDrain is
// the longest a drain can take, whatever Redis does: every step is bounded
// also when Redis hangs.
//
// # Periodic jobs
//
// Schedule adds periodic jobs (package schedule); every replica's
// scheduler loop, started by Start, enqueues each tick under a task ID
// derived from the schedule's name and the tick, so all but the first
// replica's enqueue conflict and do nothing, and keeps the completed task
// until the next tick plus a minute so that a late replica still
// conflicts. Each schedule's last enqueued tick is recorded in Redis; a
// replica starting skips the ticks missed while none ran, or enqueues the
// most recent Schedule.CatchUp of them. A NoOverlap schedule's ticks hold a
// lock on its name, so a tick due during a long run is deferred, and later
// ones skipped while it waits. A drain stops the loop before anything else.
// A dedupe key of a tick's job is scoped to the tick (its payload, fixed
// by the schedule, gives every tick the same key): each tick runs once, a
// duplicate of a tick is skipped. The logs say schedule.enqueued and
// schedule.skipped with the tick, and schedule.tick_skipped (warn) when a
// tick's task ends skipped; the metrics
// jobrunner_schedule_last_tick_timestamp_seconds and
// jobrunner_schedule_ticks_skipped_total have the last tick and the
// skipped ticks of each schedule.
//
// # Queue metrics
//
// A background loop reads each configured queue's task counts by state
// and the age of its oldest pending task every Config.QueueStatsInterval
// (5s), one script per queue; /metrics exports the last reading and its
// age, and never waits for Redis.
//
// # Status
//
// Handler also serves /status.json and /status (a page that reloads
// itself): why jobs may not run. This replica's attempts in flight (with
// the lock, fence and dedupe key each holds) and its breakers come from
// memory; the shared breakers, the limits' holders, the schedules and the
// deferred jobs by reason are read from Redis on request, with bounded
// work (a sample of each queue's retry set), within 1s, and at most once
// a second however many ask. Nothing runs while nobody asks.
//
// # Tracing
//
// Each attempt is an OpenTelemetry span, "job <type>", from Config.TracerProvider
// (the global provider by default, free while it is unset). The first
// attempt of a task is a child of the span context its producer wrote in
// the task's headers (job.Definition.Enqueue does); a retry starts its own
// trace with a link to it, since it may run days later. The layers add
// their decisions as events (dedupe, lock.acquired, lock.busy,
// breaker.check, requeued) and the outcome as attributes; a copy the
// runner re-enqueues carries the context of the attempt that made it.
// The baggage in the headers reaches the handler's context.
//
// # Error text
//
// An attempt's error text leaves the process in three places: the error
// asynq stores with the task, the log line and the span's status. All three
// get the same text, passed once through Config.Sanitize (by default a
// job.Sanitizer, which blanks URL userinfo and query values, Bearer and
// Basic credentials and the values of secret-named keys) and cut to 2 KB;
// the runner's other error logs and asynq's warnings pass through it too.
// It runs only when an attempt ends in an error or a deferral. The error
// the handler returned is kept underneath, so its classification (retry,
// archive, deferral, retry-after hint) is unchanged. A panic's stack goes to
// the log line only.
//
// # Example
//
//	r, err := runner.New(runner.Config{Redis: rdb, Logger: log})
//	if err != nil { ... }
//	if err := r.Register(SendEmail); err != nil { ... }
//	err = r.Run(ctx) // until ctx is cancelled, then drains
//
// See docs/jobs.md for jobs and middleware; the README's map of docs/ has a
// page per layer.
package runner
