// Package backoff computes retry delays: the one source of backoff and
// jitter for the module's packages. It holds the arithmetic only; the
// packages that use it (job's retry schedules, resilience's inline
// retries, lockstore's lock waits, the runner's deferrals) own their
// defaults and document them.
//
// Every function takes its random draw as an argument r in [0, 1), so a
// caller (or a test) decides where randomness comes from, and none of them
// allocates.
//
// See docs/retries.md for the retry schedules built on it.
package backoff
