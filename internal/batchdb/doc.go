// Package batchdb keeps batches of jobs in Redis: a batch's members, its
// counts and its callback, and the scripts that change them atomically.
//
// # Keys
//
// A batch's keys share the hash tag {batch:<id>} (see Prefix), so they
// live in one Cluster slot and every script sees them together:
//
//	jobrunner:{batch:<id>}:meta      hash: total, done, succeeded, archived,
//	                                 closed, enqueued, ttl_ms, created_ms,
//	                                 finished_ms, cb_* (the callback)
//	jobrunner:{batch:<id>}:members   hash: member ID -> 0 | s | a
//	jobrunner:{batch:<id>}:archived  list: archived task IDs, at most ArchivedIDsMax
//
// Every write sets the batch's TTL (TTLDefault unless the batch was opened
// with another) on all three keys, so an abandoned batch goes away.
//
// The index of batches, IndexKey (jobrunner:batches), is a sorted set of
// batch IDs by open time, the newest IndexMax kept, expiring IndexTTL
// (or the longest TTL of a batch opened, if longer) after the last open:
// the status page lists the batches in progress from it. It is in a slot
// of its own, so Open writes it after the open script, with a script on
// that one key, and a failure there does not fail the open; MarkEnqueued
// drops the batch from it in the same pipeline.
//
// # Exactly once
//
// A job is registered as a member (Add) before it is enqueued, and counted
// (Count) by the worker when it finished for good; a member is counted
// once however often Count is called for it. The callback is due when the
// batch is closed and every member is counted: Count and Close report it
// to their caller, which enqueues it under CallbackTaskID (a repeat
// conflicts) and then marks it enqueued. A caller that dies in between
// leaves the callback due: the next Count of any member (the redelivered
// last job) or Close reports it again.
//
// The callback's task carries HeaderCallback; the members' tasks carry
// HeaderBatch. See docs/batches.md.
package batchdb
