// Package faulttest is the fault-injection suite of jobrunner: it runs
// workers (in process, or as subprocesses of the testworker command) against
// dedicated redis-server processes, injects faults (Redis killed and
// restarted, latency and dropped traffic through an in-process toxiproxy,
// SIGKILLed workers, poison payloads) and checks the invariants the stack
// promises: nothing runs without its lock, no two holders of a lock overlap,
// a job with a dedupe key has its side effect at most once, and no enqueued
// job is lost.
//
// # Ledger
//
// Jobs report what they do to a Ledger: a separate Redis that no fault
// touches. Every report is one Lua script, so the ledger's event list is a
// total order of what happened across processes. The ledger also acts as
// the fenced resource the locks protect: a write carrying a fencing token
// older than the newest one seen for its key is rejected and counted.
//
// # Job
//
// WorkJob ("fault.work") is the job type the suite runs: it sleeps, fails,
// panics or ignores cancellation as its payload asks, takes the lock,
// dedupe key and dependency the payload names, and records its start, end
// and side effect in the ledger. TickJob ("fault.tick") is the job of a
// schedule's ticks: the ledger names each run by its task ID, and it
// dedupes on it.
//
// # Chaos run
//
// TestChaos drives testworker processes, with dedupe keys, fenced locks, a
// dependency limit (WORKER_DEPENDENCY_LIMITS) and a schedule
// (WORKER_SCHEDULES), through a seeded random mix of every fault above,
// then checks the invariants from the ledger's events (MaxHolders,
// FenceOrder, UnexcusedOverlaps, OpenRuns), asynq's queue and a SCAN of
// Redis. JOBRUNNER_CHAOS_SEED replays a run; JOBRUNNER_CHAOS_LOGS keeps
// the workers' logs of a failed one.
//
// The tests are in this package's _test.go files; the helpers here are
// shared with the testworker command (internal/testkit/faulttest/testworker).
//
// See docs/faults.md for the faults the suite injects and what each test
// shows.
package faulttest
