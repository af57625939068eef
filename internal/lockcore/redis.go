package lockcore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisConfig configures a RedisStore. The zero value is ready to use.
type RedisConfig struct {
	// Prefix starts every key, as in "jobrunner:{invoice:123}:lock".
	// Defaults to PrefixDefault ("jobrunner").
	Prefix string
	// RetryMin is the first pause between attempts on a busy lock.
	// Defaults to RetryMinDefault (10ms).
	RetryMin time.Duration
	// RetryMax caps the pause between attempts on a busy lock.
	// Defaults to RetryMaxDefault (500ms).
	RetryMax time.Duration
	// Buckets is how many hashes hold the completed records without a
	// result (see docs/capacity.md): about the records kept (rate x
	// window) / 33. Defaults to BucketsDefault (4096); on Redis Cluster
	// each slot has at least one. Negative keeps each record in a key of
	// its own (as on a Ring always, and on Cluster with a brace in Prefix).
	Buckets int
	// BucketsBefore is the bucket count the records of the current window
	// were written with, when Buckets changed: admission looks for a
	// record in both layouts, so that no duplicate runs again. Set it for
	// one dedupe window after a change, then drop it. 0 is none.
	BucketsBefore int
}

// RedisStore is the Store on Redis: single node, Sentinel (failover client)
// or Cluster. Locks, markers and completed records are keys (completed
// records without a result: fields of shared hashes, see bucket.go) written
// by Lua scripts, so every check-and-set is atomic. It keeps no state of
// its own beyond its configuration and an estimate of the server's clock;
// any number of processes may share one Redis.
//
// On a single node or Sentinel, Admit, Complete and Abandon are one script
// each, one round trip. On Cluster (or Ring), a dedupe key and a lock key
// usually hash to different slots, and one script may not touch both: Admit
// then takes the marker and the lock in two steps (releasing the marker if
// the lock is not obtained), and Complete and Abandon send their two
// scripts in one pipeline. Give both keys the same text to keep one script.
type RedisStore struct {
	client redis.UniversalClient
	keys   keys
	cfg    RedisConfig
	// sharded is set for clients that spread keys over nodes.
	sharded sharding
	// batch coalesces the scripts of concurrent calls into pipelines.
	batch *batcher
	// ms boxes the TTLs sent with every call once.
	ms msArgs
	// pipes holds executed pipelines for reuse.
	pipes sync.Pool
	// buckets places completed records; clock estimates the server's
	// clock for their expiry.
	buckets   buckets
	clock     serverClock
	sentinels sentinels
}

type sharding int

const (
	unsharded sharding = iota
	clusterSharded
	ringSharded
)

var _ Store = (*RedisStore)(nil)

// NewRedisStore returns a Store on client.
func NewRedisStore(client redis.UniversalClient, cfg RedisConfig) *RedisStore {
	s := &RedisStore{client: client, keys: newKeys(cfg.Prefix), cfg: cfg}
	s.batch = newBatcher(s.runAll)
	switch client.(type) {
	case *redis.ClusterClient:
		s.sharded = clusterSharded
	case *redis.Ring:
		s.sharded = ringSharded
	}
	s.buckets = newBuckets(s.keys.prefix, cfg, s.sharded)
	return s
}

// sameSlot reports whether one script may touch the keys of tag a and b.
func (s *RedisStore) sameSlot(a, b string) bool {
	switch s.sharded {
	case clusterSharded:
		return hashSlot(s.keys.tag(a)) == hashSlot(s.keys.tag(b))
	case ringSharded:
		return a == b
	}
	return true
}

// Acquire implements Store.
func (s *RedisStore) Acquire(ctx context.Context, key string, ttl, wait time.Duration) (*Lease, error) {
	ttl, wait, err := lockParams(key, ttl, wait)
	if err != nil {
		return nil, err
	}
	token := newToken()
	keys := []string{s.keys.lock(key)}
	args := []any{token, s.ms.arg(ttl)}
	var lease *Lease
	err = retryBusy(ctx, key, wait, newBackoff(s.cfg.RetryMin, s.cfg.RetryMax), func(ctx context.Context) (bool, time.Duration, error) {
		start := time.Now()
		call := &scriptCall{script: acquireScript, keys: keys, args: args}
		err := s.batch.do(ctx, []*scriptCall{call}, func() {
			// Granted to a caller that has gone: let it go at once.
			if v, err := call.cmd.Int64Slice(); err == nil && len(v) == 2 && v[0] == 1 {
				s.releaseOrphan(unlockScript, keys, []any{token, v[1]})
			}
		})
		if err != nil {
			return false, 0, storeErr("acquire", key, err)
		}
		v, err := call.cmd.Int64Slice()
		if err != nil {
			return false, 0, storeErr("acquire", key, err)
		}
		if len(v) != 2 {
			return false, 0, storeErr("acquire", key, fmt.Errorf("unexpected reply %v", v))
		}
		if v[0] != 1 {
			return false, time.Duration(v[1]) * time.Millisecond, nil
		}
		lease = newLease(s, false, key, token, v[1], ttl, start)
		return true, 0, nil
	})
	if err != nil {
		return nil, err
	}
	return lease, nil
}

// Renew implements Store: one pipeline for all leases.
func (s *RedisStore) Renew(ctx context.Context, leases ...*Lease) error {
	live, err := liveLeases(s, leases)
	if err != nil || len(live) == 0 {
		return err
	}
	calls := make([]*scriptCall, len(live))
	for i, l := range live {
		calls[i] = &scriptCall{script: extendScript, keys: []string{s.keys.lease(l)}, args: []any{l.arg(), s.ms.arg(l.ttl)}}
		switch {
		case l.slot:
			calls[i].script = slotExtendScript
		case !l.marker:
			calls[i].script = lockExtendScript
			calls[i].args = append(calls[i].args, l.fenceArgument())
		}
	}
	start := time.Now()
	s.runAll(ctx, calls)
	var firstErr error
	for i, c := range calls {
		n, err := c.cmd.Int64()
		if err != nil {
			live[i].renewFailed(err)
			firstErr = cmpErr(firstErr, err)
			continue
		}
		live[i].renewed(n, start)
	}
	return storeErr("renew", "", firstErr)
}

func (s *RedisStore) expireIn(ctx context.Context, d time.Duration, l *Lease) (int64, error) {
	script, args := extendScript, []any{l.token, max(d.Milliseconds(), 1)}
	switch {
	case l.slot:
		script = slotExtendScript
	case !l.marker:
		script, args = lockExtendScript, append(args, l.fence)
	}
	n, err := script.Run(ctx, s.client, []string{s.keys.lease(l)}, args...).Int64()
	if err != nil {
		return 0, storeErr("expire", l.key, err)
	}
	return n, nil
}

// releaseOrphan runs script (release.lua or unlock.lua) with keys and
// args in the next pipeline, without waiting: the clean-up of leases
// granted to callers that had gone by the time the reply came.
func (s *RedisStore) releaseOrphan(script *redis.Script, keys []string, args []any) {
	s.batch.post([]*scriptCall{{script: script, keys: keys, args: args}}, releaseTimeout)
}

// scriptCall is one script invocation of a pipeline.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	argv   []any // room for the EVALSHA command's arguments, or nil
	cmd    *redis.Cmd
}

// evalSha returns the EVALSHA command of c, as go-redis's Script.EvalSha
// builds it but with fewer allocations: the command's name is a constant,
// the script's hash boxed once (scriptHashes), and the arguments go to
// c.argv when it has room.
func (c *scriptCall) evalSha(ctx context.Context) *redis.Cmd {
	n := 3 + len(c.keys) + len(c.args)
	argv := c.argv[:0]
	if cap(argv) < n {
		argv = make([]any, 0, n)
	}
	hash, ok := scriptHashes[c.script]
	if !ok {
		hash = c.script.Hash()
	}
	argv = append(argv, "evalsha", hash, len(c.keys))
	for _, k := range c.keys {
		argv = append(argv, k)
	}
	argv = append(argv, c.args...)
	cmd := redis.NewCmd(ctx, argv...)
	if len(c.keys) > 0 {
		cmd.SetFirstKeyPos(3)
	}
	return cmd
}

// callBuf holds a scriptCall, room for its keys, arguments and command and the
// slice of calls batcher.do takes, in one allocation: a job's admission
// and completion each build one.
type callBuf struct {
	call  scriptCall
	calls [2]*scriptCall
	keys  [4]string
	args  [11]any
	argv  [18]any

	// A completion's: the lock's own release (nil when the call releases
	// it), the request, and what the replies said.
	release    *scriptCall
	req        CompleteRequest
	completion Completion
	err        error
	// A completion to a bucket: the estimate of the server's clock to
	// update when the script read TIME, and when the call was made.
	clock *serverClock
	sent  time.Time
}

// newCallBuf returns a callBuf for script with empty keys and arguments
// and calls holding the call.
func newCallBuf(script *redis.Script) *callBuf {
	b := &callBuf{}
	b.call = scriptCall{script: script, keys: b.keys[:0], args: b.args[:0], argv: b.argv[:0]}
	b.calls[0] = &b.call
	return b
}

// runAll sends calls in one pipeline with EVALSHA.
// Calls answered NOSCRIPT (a restarted or new server) are sent again after
// SCRIPT LOAD. Each call's cmd holds its reply or error.
func (s *RedisStore) runAll(ctx context.Context, calls []*scriptCall) {
	pending := calls
	for try := 0; ; try++ {
		s.pipeline(ctx, pending)
		var again []*scriptCall
		var loaded map[*redis.Script]error
		for _, c := range pending {
			// Err first: HasErrorPrefix allocates even for a nil error.
			if try > 0 || c.cmd.Err() == nil || !redis.HasErrorPrefix(c.cmd.Err(), "NOSCRIPT") {
				continue
			}
			if loaded == nil {
				loaded = map[*redis.Script]error{}
			}
			err, ok := loaded[c.script]
			if !ok {
				err = c.script.Load(ctx, s.client).Err()
				loaded[c.script] = err
			}
			if err != nil {
				c.cmd.SetErr(err)
				continue
			}
			again = append(again, c)
		}
		if len(again) == 0 {
			return
		}
		pending = again
	}
}

// pipeline sends calls in one pipeline, a pooled one: a go-redis pipeline
// holds nothing once executed, and a new one costs three allocations. A
// lone call goes in a pipeline too, not with Process: go-redis retries a
// pipeline that timed out within the context's deadline and not a lone
// script, and the drain's accounting of outcomes it could not write relies
// on the former (TestDrainEndsOnTimeWhenRedisHangs).
func (s *RedisStore) pipeline(ctx context.Context, calls []*scriptCall) {
	p, _ := s.pipes.Get().(redis.Pipeliner)
	if p == nil {
		p = s.client.Pipeline()
	}
	for _, c := range calls {
		c.cmd = c.evalSha(ctx)
		_ = p.Process(ctx, c.cmd)
	}
	_, _ = p.Exec(ctx)
	s.pipes.Put(p)
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
