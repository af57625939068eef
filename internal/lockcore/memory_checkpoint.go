package lockcore

import (
	"cmp"
	"context"
	"fmt"
	"time"
)

// SaveCheckpoint implements Store, as checkpoint_save.lua does.
func (m *MemoryStore) SaveCheckpoint(ctx context.Context, c Checkpoint, value []byte, ttl time.Duration) error {
	ttl = cmp.Or(ttl, CheckpointTTLDefault)
	_, _, err := m.checkpointOp(ctx, "save checkpoint", c, func(k string) (string, bool) {
		m.set(k, string(value), ttl)
		return "", false
	})
	return err
}

// LoadCheckpoint implements Store, as checkpoint_load.lua does.
func (m *MemoryStore) LoadCheckpoint(ctx context.Context, c Checkpoint, ttl time.Duration) ([]byte, bool, error) {
	ttl = cmp.Or(ttl, CheckpointTTLDefault)
	v, ok, err := m.checkpointOp(ctx, "load checkpoint", c, func(k string) (string, bool) {
		v, ok := m.get(k)
		if ok {
			m.set(k, v, ttl)
		}
		return v, ok
	})
	if err != nil || !ok {
		return nil, false, err
	}
	return []byte(v), true, nil
}

// DropCheckpoint implements Store, as checkpoint_drop.lua does.
func (m *MemoryStore) DropCheckpoint(ctx context.Context, c Checkpoint) error {
	_, _, err := m.checkpointOp(ctx, "drop checkpoint", c, func(k string) (string, bool) {
		delete(m.vals, k)
		return "", false
	})
	return err
}

// checkpointOp runs op on c's checkpoint key under the store's mutex if c's
// lease still holds its key, and marks the lease lost otherwise.
func (m *MemoryStore) checkpointOp(ctx context.Context, name string, c Checkpoint, op func(key string) (string, bool)) (string, bool, error) {
	if err := c.validate(name); err != nil {
		return "", false, err
	}
	if c.Lease.store != m {
		return "", false, fmt.Errorf("lockstore: %s: lease of another store", name)
	}
	if err := c.usable(); err != nil {
		return "", false, err
	}
	if err := m.lock(ctx, name, c.Lease.key); err != nil {
		return "", false, err
	}
	var reply int64 = 1
	var v string
	var ok bool
	switch cur, held := m.get(m.keys.lease(c.Lease)); {
	case !held:
		reply = 0
	case cur != c.Lease.token:
		reply = -1
	default:
		v, ok = op(m.keys.checkpoint(c))
	}
	m.mu.Unlock()
	if reply != 1 {
		return "", false, c.refused(reply)
	}
	return v, ok, nil
}
