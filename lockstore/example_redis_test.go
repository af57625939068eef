package lockstore_test

import (
	"context"
	"errors"
	"log"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/lockstore"
)

// ExampleRedisStore compiles but does not run: it needs a Redis server.
// NewUniversalClient gives a single-node, Sentinel or Cluster client from
// the same options.
func ExampleRedisStore() {
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"localhost:6379"}})
	defer client.Close()
	store := lockstore.NewRedisStore(client, lockstore.RedisConfig{Prefix: "myapp"})

	ctx := context.Background()
	lease, err := store.Acquire(ctx, "invoice:123", 0, 0)
	var storeErr *lockstore.StoreError
	switch {
	case errors.Is(err, lockstore.ErrNotObtained):
		log.Print("busy, retry later: ", err)
		return
	case errors.As(err, &storeErr):
		log.Print("Redis unavailable, fail closed: ", err)
		return
	case err != nil:
		log.Fatal(err)
	}
	defer lease.Release(context.WithoutCancel(ctx))
	// ... work, writing lease.Fence() with every protected write
}
