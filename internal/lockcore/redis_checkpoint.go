package lockcore

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// SaveCheckpoint implements Store: one script (checkpoint_save.lua).
func (s *RedisStore) SaveCheckpoint(ctx context.Context, c Checkpoint, value []byte, ttl time.Duration) error {
	n, err := s.checkpointCall(ctx, "save checkpoint", c, checkpointSaveScript, value, cmp.Or(ttl, CheckpointTTLDefault).Milliseconds())
	if err != nil {
		return err
	}
	return fenced(c, "save checkpoint", n)
}

// LoadCheckpoint implements Store: one script (checkpoint_load.lua).
func (s *RedisStore) LoadCheckpoint(ctx context.Context, c Checkpoint, ttl time.Duration) ([]byte, bool, error) {
	reply, err := s.checkpointCall(ctx, "load checkpoint", c, checkpointLoadScript, cmp.Or(ttl, CheckpointTTLDefault).Milliseconds())
	if err != nil {
		return nil, false, err
	}
	v, ok := reply.([]any)
	if !ok || len(v) == 0 || len(v) > 2 {
		return nil, false, storeErr("load checkpoint", c.Lease.key, fmt.Errorf("unexpected reply %v", reply))
	}
	switch code, _ := v[0].(int64); code {
	case 1:
	case 0, -1:
		return nil, false, c.refused(code)
	default:
		return nil, false, storeErr("load checkpoint", c.Lease.key, fmt.Errorf("unexpected reply %v", reply))
	}
	if len(v) == 1 {
		return nil, false, nil
	}
	b, ok := v[1].(string)
	if !ok {
		return nil, false, storeErr("load checkpoint", c.Lease.key, fmt.Errorf("unexpected reply %v", reply))
	}
	return []byte(b), true, nil
}

// DropCheckpoint implements Store: one script (checkpoint_drop.lua).
func (s *RedisStore) DropCheckpoint(ctx context.Context, c Checkpoint) error {
	n, err := s.checkpointCall(ctx, "drop checkpoint", c, checkpointDropScript)
	if err != nil {
		return err
	}
	return fenced(c, "drop checkpoint", n)
}

// fenced returns the error of a fenced script's reply: nil for 1, the
// lease's loss for 0 and -1.
func fenced(c Checkpoint, op string, reply any) error {
	switch n, _ := reply.(int64); {
	case reply == int64(1):
		return nil
	case reply == int64(0) || reply == int64(-1):
		return c.refused(n)
	}
	return storeErr(op, c.Lease.key, fmt.Errorf("unexpected reply %v", reply))
}

// checkpointCall runs one of the checkpoint scripts on c's lease key and
// checkpoint key with the lease's token and args, through the batcher, and
// returns its reply: an int64 or, for the load, a slice.
func (s *RedisStore) checkpointCall(ctx context.Context, op string, c Checkpoint, script *redis.Script, args ...any) (any, error) {
	if err := c.validate(op); err != nil {
		return nil, err
	}
	if c.Lease.store != s {
		return nil, fmt.Errorf("lockstore: %s: lease of another store", op)
	}
	if err := c.usable(); err != nil {
		return nil, err
	}
	call := &scriptCall{
		script: script,
		keys:   []string{s.keys.lease(c.Lease), s.keys.checkpoint(c)},
		args:   append([]any{c.Lease.token}, args...),
	}
	if err := s.batch.do(ctx, []*scriptCall{call}, nil); err != nil {
		return nil, storeErr(op, c.Lease.key, err)
	}
	reply, err := call.cmd.Result()
	if err != nil {
		return nil, storeErr(op, c.Lease.key, err)
	}
	if _, isSlice := reply.([]any); !isSlice {
		if _, isInt := reply.(int64); !isInt {
			return nil, storeErr(op, c.Lease.key, fmt.Errorf("unexpected reply %v", reply))
		}
	}
	return reply, nil
}
