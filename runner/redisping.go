package runner

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

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
