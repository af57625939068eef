package lockcore

import (
	"context"
	"time"
)

// memRate is a rate limit's state in a MemoryStore, as rate_take.lua keeps
// it in Redis.
type memRate struct {
	starts []time.Time // within the last window, oldest first
	q      time.Time   // end of the queue of refused starts
	pause  time.Time   // no start before
}

// TakeSlot implements Store, as slot_take.lua does.
func (m *MemoryStore) TakeSlot(ctx context.Context, key string, n int, ttl time.Duration, waiter string) (*Lease, error) {
	ttl, err := slotParams(key, n, ttl)
	if err != nil {
		return nil, err
	}
	if err := m.lock(ctx, "take slot", key); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	now := m.now()
	set := m.liveSlots(m.keys.slots(key), now)
	if len(set) >= n {
		soonest := time.Time{}
		for _, exp := range set {
			if soonest.IsZero() || exp.Before(soonest) {
				soonest = exp
			}
		}
		if waiter != "" {
			m.waiters[key] = append(m.waiters[key], waiter)
		}
		return nil, &LimitedError{Key: key, RetryIn: soonest.Sub(now)}
	}
	token := slotMember(newToken(), waiter)
	set[token] = now.Add(ttl)
	return newSlot(m, key, token, ttl, time.Now()), nil
}

// liveSlots returns the slot set of k without its expired holders.
func (m *MemoryStore) liveSlots(k string, now time.Time) map[string]time.Time {
	set := m.slots[k]
	if set == nil {
		set = make(map[string]time.Time)
		m.slots[k] = set
	}
	for tok, exp := range set {
		if !exp.After(now) {
			delete(set, tok)
		}
	}
	return set
}

// extendSlot renews l for ttl if still held, as slot_extend.lua does. The
// caller holds m.mu.
func (m *MemoryStore) extendSlot(l *Lease, ttl time.Duration) int64 {
	now := m.now()
	set := m.liveSlots(m.keys.slots(l.key), now)
	if _, ok := set[l.token]; !ok {
		return 0
	}
	set[l.token] = now.Add(ttl)
	return 1
}

// ReleaseSlot implements Store, as slot_release.lua does.
func (m *MemoryStore) ReleaseSlot(ctx context.Context, l *Lease) (string, error) {
	if err := m.lock(ctx, "release slot", l.key); err != nil {
		return "", err
	}
	set := m.liveSlots(m.keys.slots(l.key), m.now())
	_, held := set[l.token]
	delete(set, l.token)
	var waiter string
	if w := m.waiters[l.key]; len(w) > 0 {
		waiter, m.waiters[l.key] = w[0], w[1:]
	}
	m.mu.Unlock()
	r := Expired
	if held {
		r = Released
	}
	l.finished(r)
	return waiter, nil
}

// TakeRate implements Store, as rate_take.lua does.
func (m *MemoryStore) TakeRate(ctx context.Context, key string, rate Rate) error {
	if err := rateParams(key, rate); err != nil {
		return err
	}
	if err := m.lock(ctx, "take rate", key); err != nil {
		return err
	}
	defer m.mu.Unlock()
	now := m.now()
	st := m.rateState(key, rate, now)
	if !st.pause.After(now) && len(st.starts) < rate.capacity() {
		st.starts = append(st.starts, now)
		return nil
	}
	free := now
	if len(st.starts) > 0 {
		free = st.starts[0].Add(rate.Per)
	}
	at := maxTime(free, st.pause, st.q)
	st.q = at.Add(rate.Per / time.Duration(rate.capacity()))
	return &LimitedError{Key: key, Rate: true, RetryIn: at.Sub(now)}
}

// PauseRate implements Store, as rate_pause.lua does.
func (m *MemoryStore) PauseRate(ctx context.Context, key string, rate Rate, d time.Duration) error {
	if err := rateParams(key, rate); err != nil {
		return err
	}
	if err := m.lock(ctx, "pause rate", key); err != nil {
		return err
	}
	defer m.mu.Unlock()
	now := m.now()
	st := m.rateState(key, rate, now)
	st.pause = maxTime(st.pause, now.Add(d))
	return nil
}

// rateState returns key's rate state with the starts older than a window
// dropped.
func (m *MemoryStore) rateState(key string, rate Rate, now time.Time) *memRate {
	st := m.rates[key]
	if st == nil {
		st = &memRate{}
		m.rates[key] = st
	}
	i := 0
	for i < len(st.starts) && !st.starts[i].After(now.Add(-rate.Per)) {
		i++
	}
	st.starts = st.starts[i:]
	return st
}

func maxTime(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}
