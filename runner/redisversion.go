package runner

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// redisMajorMin is the oldest Redis major version the layers' scripts run
// on: admission and completion read and write a dedupe key's state in one
// command (SET with NX and GET together, Redis 7.0).
const redisMajorMin = 7

// checkRedisVersion refuses a Redis older than redisMajorMin, on every
// primary of a cluster, so that a worker on an old server fails at start
// with one clear error instead of deferring every job with a dedupe key.
// A server that does not report its version (an embedded test server) is
// let through.
func checkRedisVersion(ctx context.Context, rdb redis.UniversalClient) error {
	check := func(ctx context.Context, c redis.Cmdable) error {
		info, err := c.Info(ctx, "server").Result()
		if err != nil {
			return nil // the ping answered; the first job's script will say more
		}
		if v, ok := redisVersion(info); ok && tooOld(v) {
			return fmt.Errorf("redis %s is too old: jobrunner needs Redis %d.0 or later", v, redisMajorMin)
		}
		return nil
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			if err := check(ctx, c); err != nil {
				return fmt.Errorf("primary %s: %w", c.Options().Addr, err)
			}
			return nil
		})
	}
	return check(ctx, rdb)
}

// redisVersion returns the redis_version field of an INFO reply.
func redisVersion(info string) (string, bool) {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(line, "redis_version:"); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// tooOld reports whether version v (major.minor.patch) is older than
// redisMajorMin; a version it cannot read is not.
func tooOld(v string) bool {
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	return err == nil && n < redisMajorMin
}
