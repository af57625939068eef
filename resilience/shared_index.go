package resilience

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The shared breakers' index is a sorted set in Redis of the names of the
// shared breakers in use, scored by when a process last noted one (Unix
// milliseconds of its clock), so that a status page can list every shared
// breaker (RegistryConfig.Shared "*" names none in advance) without
// scanning the keyspace. A SharedBreaker notes its name when it first reads
// its state from Redis and again at most every sharedIndexEvery after
// that: one round trip a minute per breaker in use and replica. The set
// keeps the SharedIndexMax names noted last and expires a day
// (sharedKeyTTL) after the last note, as an idle breaker's state does.
const (
	// SharedIndexKey is the Redis key of the index of shared breakers.
	SharedIndexKey = "jobrunner:breakers"
	// SharedIndexMax bounds the index: the names noted least recently are
	// dropped beyond it.
	SharedIndexMax = 1000
	// sharedIndexEvery is how often a breaker in use notes its name again.
	sharedIndexEvery = time.Minute
)

var (
	//go:embed lua/shared_index.lua
	sharedIndexLua    string
	sharedIndexScript = redis.NewScript(sharedIndexLua)
)

// noteIndex notes the breaker's name in the index if it has not done so
// for sharedIndexEvery. A failure is tried again at the next call: the
// index only serves status pages.
func (b *SharedBreaker) noteIndex(ctx context.Context, now time.Time) {
	last, at := b.noted.Load(), now.UnixNano()
	if last != 0 && at-last < int64(sharedIndexEvery) || !b.noted.CompareAndSwap(last, at) {
		return // noted lately, or another call is noting it now
	}
	err := sharedIndexScript.Run(ctx, b.rdb, []string{SharedIndexKey},
		b.name, now.UnixMilli(), SharedIndexMax, sharedKeyTTL.Milliseconds()).Err()
	if err != nil {
		b.noted.CompareAndSwap(at, 0)
	}
}

// SharedNames returns the names in the index of shared breakers, the most
// recently noted first, at most n (at most SharedIndexMax are kept).
func SharedNames(ctx context.Context, rdb redis.Cmdable, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	names, err := rdb.ZRevRange(ctx, SharedIndexKey, 0, int64(n-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("resilience: shared breakers' index: %w", err)
	}
	return names, nil
}

// SharedState is a shared breaker's state as ReadShared finds it in Redis.
type SharedState struct {
	// Dependency is the breaker's name.
	Dependency string
	// Known is false when Redis holds no state for the breaker: never
	// used, or idle for a day. It is then closed.
	Known bool
	// State is the state a call would find: an open breaker whose open
	// period is over is half-open (Redis makes the move at the next call).
	State State
	// Failures is the failure streak of a closed breaker.
	Failures int
	// Successes counts the successful probes of a half-open breaker.
	Successes int
	// ProbeOut is true while a half-open breaker's single probe slot is
	// held by a call in progress somewhere in the fleet.
	ProbeOut bool
	// RetryAfter is how long until a call could be admitted: until the
	// open period ends, or until the probe slot is free again. Zero when
	// a call would be admitted now.
	RetryAfter time.Duration
}

// ReadShared reads the state of the named shared breakers from Redis in
// one pipeline, without changing it (no lazy transition, no probe slot
// taken), timed by the Redis server's clock like the breakers themselves.
// It is for status pages.
func ReadShared(ctx context.Context, rdb redis.Cmdable, names []string) ([]SharedState, error) {
	if len(names) == 0 {
		return nil, nil
	}
	var clock *redis.TimeCmd
	hashes := make([]*redis.SliceCmd, len(names))
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		clock = p.Time(ctx)
		for i, name := range names {
			hashes[i] = p.HMGet(ctx, sharedKey(name), "st", "fails", "succ", "ou", "pu")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("resilience: read shared breakers: %w", err)
	}
	now := clock.Val().UnixMilli()
	out := make([]SharedState, len(names))
	for i, name := range names {
		v := hashes[i].Val()
		field := func(j int) int64 {
			s, _ := v[j].(string)
			n, _ := strconv.ParseInt(s, 10, 64)
			return n
		}
		st := SharedState{Dependency: name, Known: v[0] != nil}
		ou, pu := field(3), field(4)
		switch State(field(0)) {
		case StateOpen:
			st.State = StateOpen
			if now >= ou {
				st.State = StateHalfOpen
			} else {
				st.RetryAfter = time.Duration(ou-now) * time.Millisecond
			}
		case StateHalfOpen:
			st.State, st.Successes = StateHalfOpen, int(field(2))
			if pu > now {
				st.ProbeOut, st.RetryAfter = true, time.Duration(pu-now)*time.Millisecond
			}
		default:
			st.Failures = int(field(1))
		}
		out[i] = st
	}
	return out, nil
}
