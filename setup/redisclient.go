package setup

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ClusterReloadIntervalDefault is how old NewRedisClient lets a cluster
// client's slot map grow before it reloads it in the background (go-redis
// waits 60s). A failed command reloads it at once; this interval covers
// the slots a client has not touched since a failover.
const ClusterReloadIntervalDefault = 5 * time.Second

// Timeouts NewRedisClient sets where the options leave them zero. A call
// whose context has a deadline ends by that deadline (ContextTimeoutEnabled);
// these bound the calls made without one (asynq's own, on
// context.Background) and a connection's setup.
const (
	// DialTimeoutDefault bounds a TCP connect (go-redis: 5s).
	DialTimeoutDefault = 2 * time.Second
	// ReadTimeoutDefault bounds the wait for a reply to a command sent
	// without a deadline, and WriteTimeoutDefault the write of one (go-redis:
	// 5s each). A command that times out is retried up to MaxRetries times
	// (3), so such a call on a Redis that hangs returns within about four
	// times this.
	ReadTimeoutDefault  = 2 * time.Second
	WriteTimeoutDefault = 2 * time.Second
	// DialAttemptsDefault is how many times one connection is dialed
	// before the command fails (go-redis: 5, 100ms apart, each up to
	// DialTimeout: 10s for a host that drops packets). The command's own
	// retries (MaxRetries) dial again.
	DialAttemptsDefault = 1
)

// NewRedisClient returns the client for opts, as redis.NewUniversalClient
// does, with two differences.
//
// Deadlines hold. It sets ContextTimeoutEnabled, without which go-redis
// ignores a context's deadline on socket reads and writes and waits its
// own ReadTimeout instead: on a Redis that hangs (a paused VM, a partition
// that drops packets, a long fork) a call with a 100ms deadline would
// return after seconds. runner.New refuses a client without it. Zero
// DialTimeout, ReadTimeout, WriteTimeout and DialerRetries get the
// defaults above.
//
// Cluster failovers are followed. The cluster client reloads its slot map
// (CLUSTER SLOTS, in the background, at most every 200ms) whenever a
// command fails with anything but a Redis reply error or a context error,
// and every ClusterReloadIntervalDefault. go-redis on its own reloads only
// on a MOVED reply or once a minute, and a dead primary sends no MOVED:
// after a failover the worker would keep dialing it for up to a minute
// while the promoted replica serves its slots. With this client it follows
// within about a second of the failover.
//
// Sentinel (a failover client, which follows +switch-master by itself) and
// single-server clients are otherwise redis.NewUniversalClient's.
func NewRedisClient(opts *redis.UniversalOptions) redis.UniversalClient {
	o := *opts
	o.ContextTimeoutEnabled = true
	o.DialTimeout = cmp.Or(o.DialTimeout, DialTimeoutDefault)
	o.ReadTimeout = cmp.Or(o.ReadTimeout, ReadTimeoutDefault)
	o.WriteTimeout = cmp.Or(o.WriteTimeout, WriteTimeoutDefault)
	o.DialerRetries = cmp.Or(o.DialerRetries, DialAttemptsDefault)
	if o.MasterName != "" || !(o.IsClusterMode || len(o.Addrs) > 1) {
		return redis.NewUniversalClient(&o)
	}
	co := o.Cluster()
	co.ClusterStateReloadInterval = ClusterReloadIntervalDefault
	cc := redis.NewClusterClient(co)
	cc.AddHook(reloadOnError{cc: cc})
	return cc
}

// reloadOnError is a go-redis hook that reloads a cluster client's slot map
// after a command or pipeline fails for a reason a stale map can explain.
type reloadOnError struct{ cc *redis.ClusterClient }

func (h reloadOnError) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h reloadOnError) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if staleMap(err) {
			h.cc.ReloadState(ctx)
		}
		return err
	}
}

func (h reloadOnError) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			if staleMap(c.Err()) {
				err = c.Err()
				break
			}
		}
		if staleMap(err) {
			h.cc.ReloadState(ctx)
		}
		return err
	}
}

// staleMap reports whether err may come from a node that no longer serves
// the slot: a connection error (the node is dead or unreachable) or a
// cluster-state reply. Reply errors of commands and scripts, redis.Nil, a
// closed client and the caller's own cancellation are not.
func staleMap(err error) bool {
	switch {
	case err == nil, errors.Is(err, redis.Nil), errors.Is(err, redis.ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, p := range []string{"CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "LOADING", "READONLY"} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	return true
}
