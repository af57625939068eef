package asynqdb

import (
	"maps"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of asynq v0.26's TaskMessage (internal/proto/asynq.proto).
// An enqueue writes the fields it sets; the others (retried, error_msg,
// last_failed_at, completed_at, group_key) are zero at enqueue time and
// proto3 omits zero fields. Read decodes retried too.
const (
	fieldType      protowire.Number = 1  // string
	fieldPayload   protowire.Number = 2  // bytes
	fieldID        protowire.Number = 3  // string
	fieldQueue     protowire.Number = 4  // string
	fieldRetry     protowire.Number = 5  // int32
	fieldRetried   protowire.Number = 6  // int32
	fieldTimeout   protowire.Number = 8  // int64, seconds
	fieldDeadline  protowire.Number = 9  // int64, Unix seconds
	fieldUniqueKey protowire.Number = 10 // string
	fieldRetention protowire.Number = 12 // int64, seconds
	fieldHeaders   protowire.Number = 15 // map<string, string>: entries of key = 1, value = 2
)

// Message is the subset of asynq's TaskMessage that an enqueue sets.
type Message struct {
	Type      string
	Payload   []byte
	ID        string
	Queue     string
	Retry     int32
	Timeout   int64
	Deadline  int64
	UniqueKey string
	Retention int64
	Headers   map[string]string // the trace context, when there is one
}

// AppendMessage appends m's protobuf encoding to b, fields in number
// order and zero values omitted, as proto.Marshal produces it.
func AppendMessage(b []byte, m *Message) []byte {
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
	// Map entries in key order, as proto.Marshal's deterministic mode
	// writes them (its default order is Go's map order); each entry has
	// both its key and its value, even when empty.
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		v := m.Headers[k]
		b = protowire.AppendTag(b, fieldHeaders, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(entrySize(k, v)))
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, v)
	}
	return b
}

// entrySize is the encoded size of a map entry of key k and value v.
func entrySize(k, v string) int {
	return 2 + protowire.SizeBytes(len(k)) + protowire.SizeBytes(len(v))
}

// MessageSize is an upper bound of m's encoded size, to size buffers.
func MessageSize(m *Message) int {
	// Nine fields, each at most a 1-byte tag and a 10-byte varint
	// (value or length).
	n := len(m.Type) + len(m.Payload) + len(m.ID) + len(m.Queue) + len(m.UniqueKey) + 9*11
	for k, v := range m.Headers {
		n += 1 + 10 + entrySize(k, v)
	}
	return n
}
