package asynqdb

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"
)

// More field numbers of TaskMessage, read by ReadInfo only.
const (
	fieldErrorMsg     protowire.Number = 7  // string
	fieldLastFailedAt protowire.Number = 11 // int64, Unix seconds
	fieldCompletedAt  protowire.Number = 13 // int64, Unix seconds
	fieldGroupKey     protowire.Number = 14 // string
)

// Info is what asynq's Inspector.GetTaskInfo reports of a task, field for
// field (asynq.TaskInfo), read by ReadInfo within a deadline.
type Info struct {
	ID, Queue, Type string
	Payload         []byte
	Headers         map[string]string
	State           string // one of the State constants
	MaxRetry        int
	Retried         int
	LastErr         string
	Group           string
	Timeout         time.Duration
	Deadline        time.Time // zero when unset
	Retention       time.Duration
	NextProcessAt   time.Time // zero unless pending, scheduled or retry
	LastFailedAt    time.Time // zero when it never failed
	CompletedAt     time.Time // zero unless completed
	Result          []byte    // nil when the handler wrote none
}

var (
	//go:embed lua/task_info.lua
	taskInfoLua    string
	taskInfoScript = redis.NewScript(taskInfoLua)
)

// ReadInfo returns what asynq's Inspector.GetTaskInfo returns for the task,
// in one script call bounded by ctx (the Inspector's call takes no context
// and waits for the client's read timeout on a Redis that hangs). A task
// that does not exist is ErrNotFound, whether or not its queue does.
func ReadInfo(ctx context.Context, rdb redis.Scripter, queue, id string, now time.Time) (Info, error) {
	vals, err := taskInfoScript.Run(ctx, rdb, []string{TaskKey(queue, id)}, id, now.Unix(), QueuePrefix(queue)).Slice()
	if errors.Is(err, redis.Nil) {
		return Info{}, ErrNotFound
	}
	if err != nil {
		return Info{}, err
	}
	if len(vals) != 4 {
		return Info{}, errShape
	}
	msg, _ := vals[0].(string)
	state, _ := vals[1].(string)
	if msg == "" || state == "" {
		return Info{}, ErrNotFound // a hash without a message: mid-deletion
	}
	info, err := decodeInfo([]byte(msg))
	if err != nil {
		return Info{}, fmt.Errorf("asynqdb: task %s in queue %s: %w", id, queue, err)
	}
	info.State = state
	switch at := vals[2].(type) {
	case int64:
		info.NextProcessAt = unixOrZero(at)
	case string: // a ZSCORE reply
		if n, err := strconv.ParseFloat(at, 64); err == nil {
			info.NextProcessAt = unixOrZero(int64(n))
		}
	}
	if r, _ := vals[3].(string); r != "" {
		info.Result = []byte(r)
	}
	return info, nil
}

func unixOrZero(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}

// decodeInfo decodes a whole TaskMessage into an Info.
func decodeInfo(b []byte) (Info, error) {
	var in Info
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return in, protowire.ParseError(n)
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return in, protowire.ParseError(n)
			}
			b = b[n:]
			switch num {
			case fieldRetry:
				in.MaxRetry = int(int32(v))
			case fieldRetried:
				in.Retried = int(int32(v))
			case fieldTimeout:
				in.Timeout = time.Duration(int64(v)) * time.Second
			case fieldDeadline:
				in.Deadline = unixOrZero(int64(v))
			case fieldRetention:
				in.Retention = time.Duration(int64(v)) * time.Second
			case fieldLastFailedAt:
				in.LastFailedAt = unixOrZero(int64(v))
			case fieldCompletedAt:
				in.CompletedAt = unixOrZero(int64(v))
			}
		case protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return in, protowire.ParseError(n)
			}
			b = b[n:]
			switch num {
			case fieldType:
				in.Type = string(v)
			case fieldPayload:
				in.Payload = v
			case fieldID:
				in.ID = string(v)
			case fieldQueue:
				in.Queue = string(v)
			case fieldErrorMsg:
				in.LastErr = string(v)
			case fieldGroupKey:
				in.Group = string(v)
			case fieldHeaders:
				k, val, err := decodeEntry(v)
				if err != nil {
					return in, err
				}
				if in.Headers == nil {
					in.Headers = make(map[string]string)
				}
				in.Headers[k] = val
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return in, protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return in, nil
}
