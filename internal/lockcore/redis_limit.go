package lockcore

import (
	"cmp"
	"context"
	"fmt"
	"time"
)

// TakeSlot implements Store with slot_take.lua, in the group-commit
// pipelines.
func (s *RedisStore) TakeSlot(ctx context.Context, key string, n int, ttl time.Duration, waiter string) (*Lease, error) {
	ttl, err := slotParams(key, n, ttl)
	if err != nil {
		return nil, err
	}
	token := slotMember(newToken(), waiter)
	call := &scriptCall{script: slotTakeScript, keys: []string{s.keys.slots(key), s.keys.waiters(key)},
		args: []any{token, n, s.ms.arg(ttl), waiter}}
	start := time.Now()
	if err := s.batch.do(ctx, []*scriptCall{call}, func() {
		// Taken for a caller that has gone: give it back at once.
		if v, err := call.cmd.Int64Slice(); err == nil && len(v) == 2 && v[0] == 1 {
			s.releaseOrphanSlot(key, token)
		}
	}); err != nil {
		return nil, storeErr("take slot", key, err)
	}
	v, err := call.cmd.Int64Slice()
	if err == nil && len(v) != 2 {
		err = fmt.Errorf("unexpected slot reply %v", v)
	}
	if err != nil {
		return nil, storeErr("take slot", key, err)
	}
	if v[0] != 1 {
		return nil, &LimitedError{Key: key, RetryIn: time.Duration(v[1]) * time.Millisecond}
	}
	return newSlot(s, key, token, ttl, start), nil
}

// releaseOrphanSlot gives back a slot taken for a caller that gave up.
func (s *RedisStore) releaseOrphanSlot(key, token string) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	_ = slotReleaseScript.Run(ctx, s.client, []string{s.keys.slots(key), s.keys.waiters(key)}, token).Err()
}

// ReleaseSlot implements Store with slot_release.lua, in the group-commit
// pipelines.
func (s *RedisStore) ReleaseSlot(ctx context.Context, l *Lease) (string, error) {
	if !l.slot {
		return "", fmt.Errorf("lockstore: release slot: %q is not a slot lease", l.key)
	}
	call := &scriptCall{script: slotReleaseScript, keys: []string{s.keys.slots(l.key), s.keys.waiters(l.key)}, args: []any{l.token}}
	finish := func() (string, error) {
		v, err := call.cmd.Slice()
		if err == nil && len(v) != 2 {
			err = fmt.Errorf("unexpected reply %v", v)
		}
		if err != nil {
			return "", storeErr("release slot", l.key, err)
		}
		n, _ := v[0].(int64)
		l.finished(releaseResult(n))
		waiter, _ := v[1].(string)
		return waiter, nil
	}
	if err := s.batch.do(ctx, []*scriptCall{call}, func() { _, _ = finish() }); err != nil {
		return "", storeErr("release slot", l.key, err)
	}
	return finish()
}

// TakeRate implements Store with rate_take.lua, in the group-commit
// pipelines.
func (s *RedisStore) TakeRate(ctx context.Context, key string, rate Rate) error {
	if err := rateParams(key, rate); err != nil {
		return err
	}
	call := &scriptCall{
		script: rateTakeScript,
		keys:   []string{s.keys.starts(key), s.keys.rate(key)},
		args:   []any{rate.capacity(), rate.Per.Milliseconds(), newToken()},
	}
	if err := s.batch.do(ctx, []*scriptCall{call}, nil); err != nil {
		return storeErr("take rate", key, err)
	}
	v, err := call.cmd.Int64Slice()
	if err == nil && len(v) != 2 {
		err = fmt.Errorf("unexpected rate reply %v", v)
	}
	if err != nil {
		return storeErr("take rate", key, err)
	}
	if v[0] != 1 {
		return &LimitedError{Key: key, Rate: true, RetryIn: time.Duration(v[1]) * time.Millisecond}
	}
	return nil
}

// PauseRate implements Store with rate_pause.lua.
func (s *RedisStore) PauseRate(ctx context.Context, key string, rate Rate, d time.Duration) error {
	if err := rateParams(key, rate); err != nil {
		return err
	}
	err := ratePauseScript.Run(ctx, s.client, []string{s.keys.rate(key)}, max(d.Milliseconds(), 1), rate.Per.Milliseconds()).Err()
	if err != nil {
		return storeErr("pause rate", key, err)
	}
	return nil
}

// slotParams checks a TakeSlot and applies its defaults.
func slotParams(key string, n int, ttl time.Duration) (time.Duration, error) {
	if err := validateKey("take slot", key); err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, fmt.Errorf("lockstore: take slot %q: want at least 1 slot, got %d", key, n)
	}
	ttl = cmp.Or(ttl, SlotTTLDefault)
	if ttl < time.Millisecond {
		return 0, fmt.Errorf("lockstore: take slot %q: ttl must be at least 1ms", key)
	}
	return ttl, nil
}

// rateParams checks a TakeRate or PauseRate.
func rateParams(key string, rate Rate) error {
	if err := validateKey("take rate", key); err != nil {
		return err
	}
	return rate.validate()
}
