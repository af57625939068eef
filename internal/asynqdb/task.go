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

// Task is what Read returns of a stored task.
type Task struct {
	State     string
	Retried   int
	Timeout   int64 // seconds; 0 when unset
	Deadline  int64 // Unix seconds; 0 when unset
	Retention int64 // seconds; 0 when unset
	Headers   map[string]string
}

// Read returns the task's state and the fields of its message that the
// runner needs, in one round trip bounded by ctx (asynq's Inspector waits
// for the client's read timeout whatever the caller's deadline).
func Read(ctx context.Context, rdb redis.Cmdable, queue, id string) (Task, error) {
	vals, err := rdb.HMGet(ctx, TaskKey(queue, id), "state", "msg").Result()
	if err != nil {
		return Task{}, err
	}
	state, _ := vals[0].(string)
	msg, _ := vals[1].(string)
	if state == "" || msg == "" {
		return Task{}, ErrNotFound
	}
	t, err := decode([]byte(msg))
	if err != nil {
		return Task{}, fmt.Errorf("asynqdb: task %s in queue %s: %w", id, queue, err)
	}
	t.State = state
	return t, nil
}

// decode reads the fields Task holds from a TaskMessage, skipping the rest.
func decode(b []byte) (Task, error) {
	var t Task
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return t, protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case typ == protowire.VarintType && (num == fieldRetried || num == fieldTimeout || num == fieldDeadline || num == fieldRetention):
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return t, protowire.ParseError(n)
			}
			b = b[n:]
			switch num {
			case fieldRetried:
				t.Retried = int(int32(v))
			case fieldTimeout:
				t.Timeout = int64(v)
			case fieldDeadline:
				t.Deadline = int64(v)
			case fieldRetention:
				t.Retention = int64(v)
			}
		case typ == protowire.BytesType && num == fieldHeaders:
			e, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return t, protowire.ParseError(n)
			}
			b = b[n:]
			k, v, err := decodeEntry(e)
			if err != nil {
				return t, err
			}
			if t.Headers == nil {
				t.Headers = make(map[string]string)
			}
			t.Headers[k] = v
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return t, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return t, nil
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
