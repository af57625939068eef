// Package fleet reads the fleet-wide part of a jobrunner deployment's
// state from Redis alone, for the worker's status page (/status.json,
// /status) and for enqueue --status, which runs on a machine that has no
// worker: the circuit breakers shared through Redis, the dependency
// limits (who holds the slots, the rate window and its queue of refused
// starts), the schedules (last tick enqueued, next tick, missed ticks,
// overlap), the jobs deferred in asynq's retry set, by reason and
// queue, and the batches in progress. It imports neither the runner nor asynq's server, so a producer
// binary that links it does not carry the worker.
//
// # Bounded, read-only work
//
// Read changes nothing in Redis and does a bounded amount of work however
// large the keyspace: no KEYS, no SCAN. Shared breakers are listed from
// their names in the configuration and the bounded index the breakers
// keep (resilience.SharedNames); deferred jobs are counted in a sample of
// at most Config.SampleMax (1000) soonest-due tasks per queue of each of
// the retry and scheduled sets, read without their payloads
// (asynqdb.Sample), and the result says when it was a sample; batches are
// the newest Config.BatchesMax (50) of the bounded index of batches
// (batchdb.IndexKey), each read with one HMGET of its meta hash in one
// pipeline (not the callback's payload). Each part
// of the reading is a few pipelined round trips; a part that fails is
// named in Status.Errors and the others are still returned.
//
// # The worker's environment
//
// ParseQueues, ParseLimits and ParseShared parse WORKER_QUEUES,
// WORKER_DEPENDENCY_LIMITS and WORKER_SHARED_BREAKERS for cmd/worker and
// enqueue --status alike, so that both read the same configuration the
// same way.
//
// # Keys it shares with the runner
//
// The runner writes what Read reads: ScheduleLastKey and
// ScheduleSkippedKey are a schedule's record, DeferralKey a job's
// deferral note, and HeaderOrigin, HeaderRequeues and HeaderDeferral the
// headers of a copy re-enqueued by a deferral on the last attempt. They
// are defined here, once, for both.
//
// See docs/operations.md for the status's fields and what they mean.
package fleet
