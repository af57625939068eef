package asynqdb

import (
	"context"
	_ "embed"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"
)

// Version is the asynq release whose layout this package matches.
const Version = "v0.26.0"

// States of a task, as asynq stores them in the task hash's "state" field.
const (
	StatePending     = "pending"
	StateActive      = "active"
	StateScheduled   = "scheduled"
	StateRetry       = "retry"
	StateArchived    = "archived"
	StateCompleted   = "completed"
	StateAggregating = "aggregating"
)

// ErrNotFound is returned for a task that does not exist.
var ErrNotFound = errors.New("asynqdb: task not found")

// Read returns the task's state and stored message in one round trip
// bounded by ctx (asynq's Inspector waits for the client's read timeout
// whatever the caller's deadline). It reads less than ReadInfo: no result
// and no next run time, in one HMGET rather than a script.
func Read(ctx context.Context, rdb redis.Cmdable, queue, id string) (Info, error) {
	vals, err := rdb.HMGet(ctx, TaskKey(queue, id), "state", "msg").Result()
	if err != nil {
		return Info{}, err
	}
	state, _ := vals[0].(string)
	msg, _ := vals[1].(string)
	if state == "" || msg == "" {
		return Info{}, ErrNotFound
	}
	info, err := decodeInfo([]byte(msg))
	if err != nil {
		return Info{}, fmt.Errorf("asynqdb: task %s in queue %s: %w", id, queue, err)
	}
	info.State = state
	return info, nil
}

// decodeEntry reads one map<string, string> entry.
func decodeEntry(b []byte) (k, v string, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", "", protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType || (num != 1 && num != 2) {
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return "", "", protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		s, n := protowire.ConsumeString(b)
		if n < 0 {
			return "", "", protowire.ParseError(n)
		}
		b = b[n:]
		if num == 1 {
			k = s
		} else {
			v = s
		}
	}
	return k, v, nil
}

// AppendHeader returns the encoding of one headers entry (key k, value v)
// to append to a stored TaskMessage: protobuf merges a map entry appended
// to a message into the map, so the task reads back with the header added
// (a later entry of the same key wins).
func AppendHeader(k, v string) []byte {
	var e []byte
	e = protowire.AppendTag(e, 1, protowire.BytesType)
	e = protowire.AppendString(e, k)
	e = protowire.AppendTag(e, 2, protowire.BytesType)
	e = protowire.AppendString(e, v)
	b := protowire.AppendTag(nil, fieldHeaders, protowire.BytesType)
	return protowire.AppendBytes(b, e)
}

var (
	//go:embed lua/add_header.lua
	addHeaderLua    string
	addHeaderScript = redis.NewScript(addHeaderLua)
)

// AddHeader adds header k with value v to the stored task, as if its
// producer had set it: the next run of the task (a retry, a requeue, lease
// recovery after a crash) sees it. It returns ErrNotFound when the task
// does not exist. The header is not seen by a worker that already holds
// the task's message in memory.
func AddHeader(ctx context.Context, rdb redis.Scripter, queue, id, k, v string) error {
	n, err := addHeaderScript.Run(ctx, rdb, []string{TaskKey(queue, id)}, AppendHeader(k, v)).Int64()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
