package lockcore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// TestFenceIncreasesAcrossFailover: a grant acknowledged by a primary that
// dies before its replica has it is lost in the failover; the promoted
// replica must still hand out a larger fence than the lost grant's, or two
// holders would carry the same token. A plain INCR counter hands out the
// lost grant's number again.
func TestFenceIncreasesAcrossFailover(t *testing.T) {
	t.Parallel()
	for _, topo := range redistest.Topologies() {
		if topo.Name == "single" {
			continue // no replica to fail over to
		}
		t.Run(topo.Name, func(t *testing.T) {
			t.Parallel()
			env := topo.Start(t)
			const prefix, key = "fo", "fenced"
			fenceKey := prefix + ":{" + key + "}:lock" // the lock key holds the fence
			store := lockcore.NewRedisStore(env.Client, lockcore.RedisConfig{Prefix: prefix, RetryMax: testRetryMax})
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			grant := func() int64 {
				t.Helper()
				l, err := store.Acquire(ctx, key, time.Second, 0)
				if err != nil {
					t.Fatalf("acquire: %v", err)
				}
				if _, err := l.Release(ctx); err != nil {
					t.Fatalf("release: %v", err)
				}
				return l.Fence()
			}

			// A grant every node has.
			primary := env.PrimaryFor(fenceKey)
			replica := env.ReplicaOf(primary)
			kept := grant()
			pc := primary.Client()
			if n, err := pc.Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
				t.Fatalf("WAIT: %d replicas, %v", n, err)
			}

			// A grant only the primary has: the replica is paused and its
			// link dropped, then the primary dies with the grant.
			replica.Pause()
			if err := pc.Do(ctx, "CLIENT", "KILL", "TYPE", "replica").Err(); err != nil {
				replica.Resume()
				t.Fatalf("CLIENT KILL TYPE replica: %v", err)
			}
			lost := grant()
			primary.Kill()
			replica.Resume()
			env.Recover(primary)

			rc := replica.Client()
			v, err := rc.Get(ctx, fenceKey).Result()
			if err != nil && err != redis.Nil {
				t.Fatal(err)
			}
			onReplica, _, _, _ := lockcore.ParseLock(v)
			if onReplica >= lost {
				t.Fatalf("the promoted replica has fence %d, the lost grant was %d: the grant was not lost, the test proves nothing", onReplica, lost)
			}

			var next int64
			for { // the client may need a moment to follow the failover
				l, err := store.Acquire(ctx, key, time.Second, 0)
				if err == nil {
					next = l.Fence()
					break
				}
				if ctx.Err() != nil {
					t.Fatalf("acquire after the failover: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			t.Logf("fences: replicated %d, lost with the primary %d, promoted replica's value %d, next grant %d", kept, lost, onReplica, next)
			if next <= lost {
				t.Fatalf("fence after the failover %d <= %d, handed out by the dead primary: two holders can carry one fence", next, lost)
			}
		})
	}
}
