package lockcore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// HoldersMax bounds LimitState.Holders: a status page lists at most this
// many holders of a concurrency limit's slots.
const HoldersMax = 100

// LimitState is a dependency limit's state as Store.InspectLimit reads it:
// who holds its concurrency slots, how many refused takers wait, and its
// rate limit's window, queue of refused starts and pause. It is a reading
// for operators, taken at once on the store's clock, and may be stale as
// soon as it is returned.
type LimitState struct {
	// InUse is the number of concurrency slots held: leases that have not
	// run out.
	InUse int
	// Holders are the slots' holders, the soonest end of lease first, at
	// most HoldersMax of them.
	Holders []SlotHolder
	// Waiting is the number of refused takers remembered to be handed out
	// by ReleaseSlot (the waiter argument of TakeSlot), at most 10,000.
	// Some may have run since: a waiter is forgotten only when a release
	// hands it out or the list expires.
	Waiting int
	// Starts is the number of starts the rate limit admitted within the
	// last window (the per given to InspectLimit); 0 without one.
	Starts int
	// QueuedFor is the length of the queue of refused starts: a start
	// refused now would wait at least this long for its turn behind the
	// ones refused before it. Zero when no refused start waits.
	QueuedFor time.Duration
	// PausedFor is how long a pause (PauseRate, a callee's Retry-After)
	// still holds every start back. Zero when none does.
	PausedFor time.Duration
}

// SlotHolder is one holder of a concurrency slot.
type SlotHolder struct {
	// Holder is the waiter string the slot was taken with (TakeSlot names
	// its holder with it; the runner gives "QUEUE\nTASK_ID"); empty for a
	// slot taken without one.
	Holder string
	// ExpiresIn is how long until the slot's lease runs out unless it is
	// renewed.
	ExpiresIn time.Duration
}

// slotMember is the member of a slot set for a slot taken with token by
// holder: the token alone, or token:holder. Tokens hold no ':', so the
// holder is what follows the first one.
func slotMember(token, holder string) string {
	if holder == "" {
		return token
	}
	return token + ":" + holder
}

// slotHolder returns the holder of a slot set's member.
func slotHolder(member string) string {
	_, holder, _ := strings.Cut(member, ":")
	return holder
}

// InspectLimit implements Store with limit_inspect.lua: one read-only
// script, whose keys share the limit's slot.
func (s *RedisStore) InspectLimit(ctx context.Context, key string, per time.Duration) (LimitState, error) {
	if err := validateKey("inspect limit", key); err != nil {
		return LimitState{}, err
	}
	keys := []string{s.keys.slots(key), s.keys.waiters(key), s.keys.starts(key), s.keys.rate(key)}
	v, err := limitInspectScript.Run(ctx, s.client, keys, max(per.Milliseconds(), 0), HoldersMax).Slice()
	if err == nil && len(v) != 6 {
		err = fmt.Errorf("unexpected reply %v", v)
	}
	if err != nil {
		return LimitState{}, storeErr("inspect limit", key, err)
	}
	num := func(x any) int64 { n, _ := x.(int64); return n }
	st := LimitState{
		InUse: int(num(v[0])), Waiting: int(num(v[2])), Starts: int(num(v[3])),
		QueuedFor: time.Duration(num(v[4])) * time.Millisecond, PausedFor: time.Duration(num(v[5])) * time.Millisecond,
	}
	pairs, _ := v[1].([]any)
	for i := 0; i+1 < len(pairs); i += 2 {
		member, _ := pairs[i].(string)
		ms, _ := pairs[i+1].(int64)
		st.Holders = append(st.Holders, SlotHolder{Holder: slotHolder(member), ExpiresIn: time.Duration(ms) * time.Millisecond})
	}
	return st, nil
}

// InspectLimit implements Store, as limit_inspect.lua reads Redis.
func (m *MemoryStore) InspectLimit(ctx context.Context, key string, per time.Duration) (LimitState, error) {
	if err := validateKey("inspect limit", key); err != nil {
		return LimitState{}, err
	}
	if err := m.lock(ctx, "inspect limit", key); err != nil {
		return LimitState{}, err
	}
	defer m.mu.Unlock()
	now := m.now()
	var st LimitState
	for member, exp := range m.slots[m.keys.slots(key)] {
		if exp.After(now) {
			st.InUse++
			st.Holders = append(st.Holders, SlotHolder{Holder: slotHolder(member), ExpiresIn: exp.Sub(now)})
		}
	}
	slices.SortFunc(st.Holders, func(a, b SlotHolder) int { return cmp.Compare(a.ExpiresIn, b.ExpiresIn) })
	st.Holders = st.Holders[:min(len(st.Holders), HoldersMax)]
	st.Waiting = len(m.waiters[key])
	if r := m.rates[key]; r != nil {
		if per > 0 {
			for _, at := range r.starts {
				if at.After(now.Add(-per)) {
					st.Starts++
				}
			}
		}
		st.QueuedFor, st.PausedFor = max(r.q.Sub(now), 0), max(r.pause.Sub(now), 0)
	}
	return st, nil
}
