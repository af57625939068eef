package redistest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Dump returns every key of c's database with everything it holds, read
// by type (a hash's fields and values, a list's, set's and sorted set's
// members, a stream's entries) and printed with %s, so a value's raw bytes
// (asynq's protobuf task messages included) can be searched. A test that
// must prove something is nowhere in Redis searches it.
func Dump(tb testing.TB, c redis.Cmdable) map[string]string {
	tb.Helper()
	ctx := context.Background()
	out := map[string]string{}
	iter := c.Scan(ctx, 0, "*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		typ, err := c.Type(ctx, key).Result()
		if err != nil {
			tb.Fatalf("redistest: TYPE %s: %v", key, err)
		}
		var v any
		switch typ {
		case "string":
			v, err = c.Get(ctx, key).Result()
		case "hash":
			v, err = c.HGetAll(ctx, key).Result()
		case "list":
			v, err = c.LRange(ctx, key, 0, -1).Result()
		case "set":
			v, err = c.SMembers(ctx, key).Result()
		case "zset":
			v, err = c.ZRangeWithScores(ctx, key, 0, -1).Result()
		case "stream":
			v, err = c.XRange(ctx, key, "-", "+").Result()
		case "none":
			continue // expired meanwhile
		default:
			tb.Fatalf("redistest: key %s has type %s, which Dump does not read", key, typ)
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			tb.Fatalf("redistest: read %s: %v", key, err)
		}
		out[key] = fmt.Sprintf("%s", v)
	}
	if err := iter.Err(); err != nil {
		tb.Fatalf("redistest: SCAN: %v", err)
	}
	return out
}
