package lockstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/lockstore"
)

func Example() {
	ctx := context.Background()
	store := lockstore.NewMemoryStore(lockstore.Config{})

	lease, err := store.Acquire(ctx, "invoice:123", 30*time.Second, 10*time.Second)
	if err != nil {
		panic(err)
	}
	fmt.Println("fence:", lease.Fence())

	// A second owner gives up after its (negative: single-attempt) wait.
	_, err = store.Acquire(ctx, "invoice:123", 0, -1)
	fmt.Println("busy:", errors.Is(err, lockstore.ErrNotObtained))

	res, _ := lease.Release(context.WithoutCancel(ctx))
	fmt.Println("release:", res)

	next, _ := store.Acquire(ctx, "invoice:123", 0, 0)
	fmt.Println("next fence:", next.Fence())
	_, _ = next.Release(ctx)
	// Output:
	// fence: 1
	// busy: true
	// release: released
	// next fence: 2
}

// ExampleNewRedisStore compiles but does not run: it needs a Redis server.
// NewUniversalClient gives a single-node, Sentinel or Cluster client from
// the same options.
func ExampleNewRedisStore() {
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: []string{"localhost:6379"}, ContextTimeoutEnabled: true,
	})
	defer client.Close()
	store := lockstore.NewRedisStore(client, lockstore.Config{})

	ctx := context.Background()
	lease, err := store.Acquire(ctx, "invoice:123", 0, 0)
	switch {
	case errors.Is(err, lockstore.ErrNotObtained):
		log.Print("busy, retry later: ", err)
		return
	case err != nil:
		log.Print("Redis unavailable, fail closed: ", err)
		return
	}
	defer lease.Release(context.WithoutCancel(ctx))

	// Extend the lease while the work runs, and stop when it is lost.
	tick := time.NewTicker(lease.TTL() / 3)
	defer tick.Stop()
	for step := 0; step < 10; step++ {
		select {
		case <-lease.Lost():
			log.Print("lock lost, stop: ", lease.Err())
			return
		case <-tick.C:
			_ = lease.Extend(ctx) // a failure loses nothing before the deadline
		}
		// ... one step of work, writing lease.Fence() with every protected write
	}
}
