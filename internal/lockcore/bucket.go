package lockcore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Completed records without a result are not keys of their own: each is a
// field of a bucket, a hash that holds the records of many dedupe keys
// (the field is the dedupe key, the value the record's expiry in the
// server's milliseconds). Redis keeps a small hash as one listpack, about 35
// bytes per record against about 130 for a key with a TTL (see
// docs/capacity.md). Records with a result stay keys (a result is too long
// for a listpack value), as do all in-flight markers.
//
// A bucket is chosen by a hash of the dedupe key modulo the bucket count
// (RedisConfig.Buckets). On Redis Cluster the bucket must share the slot of
// the key's marker, so that admission and completion stay one script each:
// each slot has its own Buckets/16384 buckets (at least one), under a hash
// tag that hashes to that slot.
//
//	jobrunner:r:1234          single node, Sentinel
//	jobrunner:{4yv}:r0        Cluster: "4yv" hashes to the marker's slot
//
// Expiry is checked on read (admit.lua), so a record past its window counts
// as gone at once. A bucket's TTL covers its newest record: it is pushed
// out once per quarter of the window, when the completion's HSET writes a
// new quarter's sentinel field (completeBucket in complete.lua), and the
// same step deletes up to 128 of the bucket's expired fields.

// BucketsDefault is the bucket count when RedisConfig.Buckets is 0: buckets
// of about 33 records (the size that keeps their lookups as cheap as a
// key's) for the records of about 1.5 jobs a second over a 24h window, and
// small hashes up to about 6 a second. Redis converts a hash of more than
// 128 fields (hash-max-listpack-entries) to a hashtable, where a record
// takes about 90 bytes; raise the count with the rate (docs/capacity.md).
const BucketsDefault = 4096

// buckets places the completed records of a store.
type buckets struct {
	prefix string
	// n is the bucket count; 0 means records are keys (Ring, or Buckets
	// < 0).
	n int
	// before is the previous count, read as well on admission, or 0.
	before int
	// tags holds a hash tag for each Cluster slot; nil when not on a
	// cluster.
	tags []string
}

func newBuckets(prefix string, cfg RedisConfig, sharded sharding) buckets {
	b := buckets{prefix: prefix}
	if cfg.Buckets < 0 || sharded == ringSharded || sharded == clusterSharded && strings.ContainsAny(prefix, "{}") {
		// A brace in the prefix would make it the hash tag of every key
		// or spoil the buckets' own tags: no bucket can be placed.
		return b
	}
	b.n = cmp.Or(cfg.Buckets, BucketsDefault)
	if cfg.BucketsBefore > 0 && cfg.BucketsBefore != b.n {
		b.before = cfg.BucketsBefore
	}
	if sharded == clusterSharded {
		b.tags = slotTags()
	}
	return b
}

// key returns the bucket of dedupe key in a layout of n buckets.
func (b *buckets) key(dedupeKey string, n int) string {
	h := fnv32(dedupeKey)
	if b.tags == nil {
		return b.prefix + ":r:" + strconv.FormatUint(uint64(h%uint32(n)), 10)
	}
	per := uint32((n + slotCount - 1) / slotCount)
	slot := crc16(escapeTag(dedupeKey)) % slotCount
	return b.prefix + ":{" + b.tags[slot] + "}:r" + strconv.FormatUint(uint64(h%per), 10)
}

// field returns the field of dedupe key's record: the key itself when it
// is short, else "~#" and the base64 of its SHA-256, so that every field
// stays within the 64 bytes of a listpack value (hash-max-listpack-value:
// one longer field would turn the whole bucket into a hashtable). Keys that
// start with '~' get one more in front, so that no key is taken for a
// digest or a sentinel field ('~', the window in ms, ':', the quarter).
func field(dedupeKey string) string {
	if len(dedupeKey) > fieldMax {
		sum := sha256.Sum256([]byte(dedupeKey))
		return "~#" + base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if dedupeKey != "" && dedupeKey[0] == '~' {
		return "~" + dedupeKey
	}
	return dedupeKey
}

// fieldMax is the longest dedupe key that is its record's field: as long
// as a digest field (2 + 43 bytes).
const fieldMax = 45

// fnv32 is FNV-1a, 32 bits.
func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// slotTags returns, for each Cluster slot, the shortest base-36 number (in
// counting order) whose CRC-16 falls in it: every process computes the
// same table, in about a millisecond.
func slotTags() []string {
	tags := make([]string, slotCount)
	for i, left := int64(0), slotCount; left > 0; i++ {
		t := strconv.FormatInt(i, 36)
		if s := crc16(t) % slotCount; tags[s] == "" {
			tags[s] = t
			left--
		}
	}
	return tags
}

// serverClock estimates the Redis server's clock, from which a record's
// expiry is computed, without a TIME per job: a completion without a fresh
// estimate asks the script to read TIME and hand it back.
//
// The estimate is the server's time as read plus the time since the call
// was made, rounded up: the server read it after that, so the estimate is
// never behind the server's clock (save a drift of the two clocks of more
// than 200 ppm over clockRefresh, or a step of the server's clock). A
// record may so outlive its window by a round trip, and not fall short of
// it.
type serverClock struct {
	last atomic.Pointer[clockSample]
}

type clockSample struct {
	ms int64     // the server's clock, in milliseconds
	at time.Time // when the call that read it was made (monotonic)
}

// clockRefresh is how long an estimate is used before TIME is read again.
const clockRefresh = 5 * time.Second

// now returns the estimate of the server's clock at t in milliseconds, or
// false when there is none fresh.
func (c *serverClock) now(t time.Time) (int64, bool) {
	s := c.last.Load()
	if s == nil {
		return 0, false
	}
	d := t.Sub(s.at)
	if d < 0 || d > clockRefresh {
		return 0, false
	}
	return s.ms + d.Milliseconds() + 1, true
}

// set records that the server's clock read ms after a call made at t.
func (c *serverClock) set(ms int64, t time.Time) {
	c.last.Store(&clockSample{ms: ms, at: t})
}

// Recorded reports whether a completed record of dedupeKey is kept: the
// key's state key holds one, or a bucket (of Buckets or BucketsBefore)
// holds one whose expiry is ahead of the server's clock. A reading for
// operators and tests, stale as soon as it is returned.
func (s *RedisStore) Recorded(ctx context.Context, dedupeKey string) (bool, error) {
	v, err := s.client.Get(ctx, s.keys.inflight(dedupeKey)).Result()
	switch {
	case err == nil && isRecord(v):
		return true, nil
	case err != nil && !errors.Is(err, redis.Nil):
		return false, storeErr("read", dedupeKey, err)
	}
	for _, n := range []int{s.buckets.n, s.buckets.before} {
		if n == 0 {
			continue
		}
		exp, err := s.client.HGet(ctx, s.buckets.key(dedupeKey, n), field(dedupeKey)).Int64()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return false, storeErr("read", dedupeKey, err)
		}
		now, err := s.client.Time(ctx).Result()
		if err != nil {
			return false, storeErr("read", dedupeKey, err)
		}
		if exp > now.UnixMilli() {
			return true, nil
		}
	}
	return false, nil
}

// sentinels caches, per window (ms), the sentinel field of its current
// quarter (see completeBucket in lua/lock.lua), boxed as script arguments:
// it changes once per quarter, and formatting it in the script per job
// would cost Redis more than the record's HSET.
type sentinels struct{ cowMap[*sentinel] }

type sentinel struct {
	k           int64 // the quarter: server ms / (window / 4)
	name, value any   // "~<window ms>:<k>", and (k + 2) × quarter
}

// get returns the sentinel of window (ms) at server time now (ms).
func (c *sentinels) get(window, now int64) *sentinel {
	q := max(window/4, 1)
	k := now / q
	if s, ok := c.load(window); ok && s.k == k {
		return s
	}
	return c.update(window, func(cur *sentinel, ok bool) *sentinel {
		if ok && cur.k >= k { // another call got there first
			return cur
		}
		return &sentinel{
			k:     k,
			name:  "~" + strconv.FormatInt(window, 10) + ":" + strconv.FormatInt(k, 10),
			value: strconv.FormatInt((k+2)*q, 10),
		}
	})
}
