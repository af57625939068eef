package lockcore

import (
	"strings"
	"time"
)

// PrefixDefault is the key prefix used when a config leaves Prefix empty.
const PrefixDefault = "jobrunner"

// keys builds every Redis key the package uses. Each user key becomes a
// Redis Cluster hash tag, so all keys of one lock (the lock with its fence)
// or of one dedupe key (in-flight marker, then completed record), and the
// checkpoints they fence, live in one slot and one script may touch them
// together:
//
//	jobrunner:{invoice:123}:lock
//	jobrunner:{invoice:123}:inflight
//	jobrunner:{invoice:123}:checkpoint
//
// A lock key and a dedupe key with the same text share a tag and a slot, but
// their suffixes keep them apart.
type keys struct{ prefix string }

func newKeys(prefix string) keys {
	if prefix == "" {
		prefix = PrefixDefault
	}
	return keys{prefix: prefix}
}

// tag returns the hash tag of key, braces included.
func (k keys) tag(key string) string { return k.tagged(key, "") }

// tagged returns the key of kind suffix under key's hash tag, in one
// concatenation.
func (k keys) tagged(key, suffix string) string {
	return k.prefix + ":{" + escapeTag(key) + "}" + suffix
}

// lock is the key of a lock: its fence, its holder's deadline and owner
// token (see lua/lock.lua), kept fenceTTL after its last write.
func (k keys) lock(key string) string { return k.tagged(key, ":lock") }

// fenceTTL is how long a lock key, and so its fence, outlives its last
// write (lockKeyTTL in lua/lock.lua, which must agree). A
// fence is the larger of the last one + 1 and the server's clock in
// microseconds, so a key may go once the clock has passed its value: the
// next grant then follows the clock and is larger still. The value is
// ahead of the clock only by the grants of one microsecond, or by a clock
// set back; a day covers any step back short of a day, and keeps one key
// per lock key used within the last day, as completed records are kept
// for the default dedupe window.
const fenceTTL = 24 * time.Hour

// inflight is the state key of a dedupe key: its in-flight marker while the
// job runs (the admission's token and the task ID, see markerValue), then
// its completed record (byte 1, then the result bytes), which replaces the
// marker without a key being created or deleted.
func (k keys) inflight(key string) string { return k.tagged(key, ":inflight") }

// lease is the key a lease holds: its marker's, its lock's or its slot
// set's.
func (k keys) lease(l *Lease) string {
	if l.rkey != "" {
		return l.rkey // built by its grant: the same key
	}
	switch {
	case l.marker:
		return k.inflight(l.key)
	case l.slot:
		return k.slots(l.key)
	}
	return k.lock(l.key)
}

// slots is the sorted set of the holders of a concurrency limit's slots.
// Limit keys are tagged "limit:<key>", apart from lock and dedupe keys.
func (k keys) slots(key string) string { return k.prefix + ":{limit:" + escapeTag(key) + "}:slots" }

// waiters is the list of refused takers of a concurrency limit's slots.
func (k keys) waiters(key string) string { return k.prefix + ":{limit:" + escapeTag(key) + "}:waiters" }

// starts is the sliding window of a rate limit's recent starts.
func (k keys) starts(key string) string { return k.prefix + ":{limit:" + escapeTag(key) + "}:starts" }

// rate is a rate limit's state: the queue of refused starts and a pause.
func (k keys) rate(key string) string { return k.prefix + ":{limit:" + escapeTag(key) + "}:rate" }

// checkpoint is the key of a checkpoint (see Checkpoint): beside its
// lease's key, with the name after the suffix.
func (k keys) checkpoint(c Checkpoint) string {
	key := k.tagged(c.Lease.key, ":checkpoint")
	if c.Name != "" {
		key += ":" + c.Name
	}
	return key
}

// markerValue is the value of an in-flight marker: the admission's own
// token, then the task ID. The task ID lets a redelivery of the same task
// take the marker over; the token makes that takeover fence the attempt it
// replaced out, whose renewals and completion then find another value.
func markerValue(token, taskID string) string { return token + ":" + taskID }

// markerHolder returns the task ID of a marker value. Tokens hold no ':',
// so the task ID is what follows the first one; a value without one (set by
// a version before tokens) is a task ID itself.
func markerHolder(v string) string {
	if _, id, ok := strings.Cut(v, ":"); ok {
		return id
	}
	return v
}

// tagEscaper escapes the characters that would end or restart a hash tag.
// Without it a key such as "}x" would give the tag "{}", which Redis ignores,
// scattering one lock's keys over several slots. The mapping is one to one,
// so two different keys never share a Redis key.
var tagEscaper = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")

func escapeTag(key string) string {
	if !strings.ContainsAny(key, "%{}") {
		return key
	}
	return tagEscaper.Replace(key)
}

// recordValue is the value of a completed record with its result: the digit 1
// when there is none, else byte 1 and then the result bytes. Redis keeps
// the value "1" in a shared integer object, so a record without a result
// costs no allocation beyond its key (32 B less per record than "\x01").
func recordValue(result []byte) string {
	if len(result) == 0 {
		return "1"
	}
	return "\x01" + string(result)
}

// isRecord reports whether v, a state key's value, is a completed record
// (see recordValue) rather than an in-flight marker (token ':' task ID).
// Its result is v[1:].
func isRecord(v string) bool { return v == "1" || len(v) > 0 && v[0] == 1 }
