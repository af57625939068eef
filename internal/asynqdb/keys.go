package asynqdb

import (
	"crypto/md5"
	"encoding/hex"
)

// Key builders for asynq v0.26's data structures (internal/base/base.go).
// The {queue} hash tag keeps one queue's keys in one Redis Cluster slot, as
// asynq does.

// AllQueues is the set of every queue name; asynq's Inspector lists queues
// from it and its Client adds a queue before the queue's first task.
const AllQueues = "asynq:queues"

// QueuePrefix is the prefix of every key of queue.
func QueuePrefix(queue string) string { return "asynq:{" + queue + "}:" }

// TaskKey is the hash holding a task: its state, its message and more.
func TaskKey(queue, id string) string { return QueuePrefix(queue) + "t:" + id }

// PendingKey is the list of the queue's tasks ready to run.
func PendingKey(queue string) string { return QueuePrefix(queue) + "pending" }

// ScheduledKey is the sorted set of tasks to run later, by time.
func ScheduledKey(queue string) string { return QueuePrefix(queue) + "scheduled" }

// RetryKey is the sorted set of tasks waiting for a retry, by time.
func RetryKey(queue string) string { return QueuePrefix(queue) + "retry" }

// LeaseKey is the sorted set of active tasks by lease expiry: asynq's lease
// recovery retries those whose lease expired.
func LeaseKey(queue string) string { return QueuePrefix(queue) + "lease" }

// UniqueKey is the uniqueness lock of a task enqueued with asynq's Unique
// option: queue, type and the MD5 of the payload.
func UniqueKey(queue, typ string, payload []byte) string {
	if payload == nil {
		return QueuePrefix(queue) + "unique:" + typ + ":"
	}
	sum := md5.Sum(payload)
	return QueuePrefix(queue) + "unique:" + typ + ":" + hex.EncodeToString(sum[:])
}
