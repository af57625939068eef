package enqueue

import (
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of asynq v0.26's TaskMessage (internal/proto/asynq.proto).
// Bulk mode writes the fields an enqueue sets; the others (retried,
// error_msg, last_failed_at, completed_at, group_key, headers) are zero at
// enqueue time and proto3 omits zero fields.
const (
	fieldType      protowire.Number = 1 // string
	fieldPayload   protowire.Number = 2 // bytes
	fieldID        protowire.Number = 3 // string
	fieldQueue     protowire.Number = 4 // string
	fieldRetry     protowire.Number = 5 // int32
	fieldTimeout   protowire.Number = 8 // int64, seconds
	fieldDeadline  protowire.Number = 9 // int64, Unix seconds
	fieldUniqueKey protowire.Number = 10
	fieldRetention protowire.Number = 12 // int64, seconds
)

// taskMessage is the subset of asynq's TaskMessage that an enqueue sets.
type taskMessage struct {
	Type      string
	Payload   []byte
	ID        string
	Queue     string
	Retry     int32
	Timeout   int64
	Deadline  int64
	UniqueKey string
	Retention int64
}

// appendTaskMessage appends m's protobuf encoding to b, fields in number
// order and zero values omitted, as proto.Marshal produces it.
func appendTaskMessage(b []byte, m *taskMessage) []byte {
	str := func(b []byte, n protowire.Number, s string) []byte {
		if s == "" {
			return b
		}
		b = protowire.AppendTag(b, n, protowire.BytesType)
		return protowire.AppendString(b, s)
	}
	varint := func(b []byte, n protowire.Number, v int64) []byte {
		if v == 0 {
			return b
		}
		b = protowire.AppendTag(b, n, protowire.VarintType)
		return protowire.AppendVarint(b, uint64(v))
	}
	b = str(b, fieldType, m.Type)
	if len(m.Payload) > 0 {
		b = protowire.AppendTag(b, fieldPayload, protowire.BytesType)
		b = protowire.AppendBytes(b, m.Payload)
	}
	b = str(b, fieldID, m.ID)
	b = str(b, fieldQueue, m.Queue)
	b = varint(b, fieldRetry, int64(m.Retry))
	b = varint(b, fieldTimeout, m.Timeout)
	b = varint(b, fieldDeadline, m.Deadline)
	b = str(b, fieldUniqueKey, m.UniqueKey)
	b = varint(b, fieldRetention, m.Retention)
	return b
}

// messageSize is an upper bound of m's encoded size, to size buffers.
func messageSize(m *taskMessage) int {
	// Nine fields, each at most a 1-byte tag and a 10-byte varint
	// (value or length).
	return len(m.Type) + len(m.Payload) + len(m.ID) + len(m.Queue) + len(m.UniqueKey) + 9*11
}
