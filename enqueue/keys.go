package enqueue

import (
	"crypto/md5"
	"encoding/hex"
)

// Key builders for the asynq v0.26 data structures that bulk mode writes
// (asynq's internal/base/base.go). The {qname} hash tag keeps one queue's
// keys in one Redis Cluster slot, as asynq does.

// allQueuesKey is the set of every queue name; asynq's Inspector lists
// queues from it.
const allQueuesKey = "asynq:queues"

func queueKeyPrefix(qname string) string { return "asynq:{" + qname + "}:" }

func taskKey(qname, id string) string { return queueKeyPrefix(qname) + "t:" + id }

func pendingKey(qname string) string { return queueKeyPrefix(qname) + "pending" }

func scheduledKey(qname string) string { return queueKeyPrefix(qname) + "scheduled" }

// uniqueKey is the uniqueness lock of a task: queue, type and the MD5 of
// the payload.
func uniqueKey(qname, typ string, payload []byte) string {
	if payload == nil {
		return queueKeyPrefix(qname) + "unique:" + typ + ":"
	}
	sum := md5.Sum(payload)
	return queueKeyPrefix(qname) + "unique:" + typ + ":" + hex.EncodeToString(sum[:])
}
