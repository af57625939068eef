// Package asynqdb reads and edits asynq v0.26.0's Redis layout where
// asynq's public API has no call that takes a context: a task's state and
// stored message, read within a deadline (Read for what the runner needs,
// ReadInfo for all that asynq's Inspector reports), and a header added to a stored
// task. asynq keeps this layout internal (internal/base, internal/rdb), so
// it can change with any asynq release; everything here names the version
// it matches, and the tests go through asynq's own Inspector and Server so
// that an upgrade that moves the layout fails them.
//
// Sample reads bounded samples of queues' retry and scheduled sets, with
// what says why each task waits but never its payload, for status pages.
//
// See docs/dependencies.md for the asynq version it matches.
package asynqdb
