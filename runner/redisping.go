package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/rediserr"
)

// startPing bounds one ping of awaitStart. go-redis honours a context's
// deadline on a socket read but not its cancellation, so short pings are
// what lets a cancelled start return soon.
const startPing = 500 * time.Millisecond

// awaitStart pings Redis until it answers, StartTimeout passes or ctx
// ends. A refused password is final at once: waiting would not change it.
func awaitStart(ctx context.Context, rdb redis.UniversalClient) error {
	deadline := time.Now().Add(StartTimeout)
	var last error // the last error that says more than a ping's own timeout
	for {
		pctx, cancel := context.WithTimeout(ctx, min(time.Until(deadline), startPing))
		err := pingRedis(pctx, rdb)
		cancel()
		if err != nil && (last == nil || !errors.Is(err, context.DeadlineExceeded)) {
			last = err
		}
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case rediserr.IsAuth(err):
			return err
		case !time.Now().Before(deadline):
			return fmt.Errorf("no answer within %v: %w", StartTimeout, last)
		}
		t := time.NewTimer(min(100*time.Millisecond, time.Until(deadline)))
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}

// pingRedis checks that Redis can serve the worker. On Redis Cluster it
// pings every primary (reloading the slot map first, which also points the
// client at a promoted replica): the client's own Ping reaches a single
// node, which answers while every command for the slots of a dead primary
// fails, and a worker's queue, locks and markers may live on any primary.
// Elsewhere (one server, or the primary a Sentinel client follows) it is
// Ping.
func pingRedis(ctx context.Context, rdb redis.UniversalClient) error {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return rdb.Ping(ctx).Err()
	}
	return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		if err := c.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("primary %s: %w", c.Options().Addr, err)
		}
		return nil
	})
}
