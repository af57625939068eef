package redistest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/setup"
)

func TestCluster(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := redistest.StartCluster(t, redistest.ClusterOptions{})
	t.Logf("cluster of %d nodes started and healthy in %s", len(c.Nodes), time.Since(start).Round(time.Millisecond))
	ctx := ctxFor(t)

	primaries := c.Primaries()
	if len(primaries) != 3 {
		t.Fatalf("%d primaries, want 3", len(primaries))
	}
	for _, p := range primaries {
		if rs := c.ReplicasOf(p); len(rs) != 1 {
			t.Errorf("primary %s has %d replicas, want 1", p.Addr, len(rs))
		}
	}

	// The URL is one the worker accepts, and its client reaches the cluster.
	opts, err := setup.ParseRedisURL(c.URL())
	if err != nil {
		t.Fatalf("ParseRedisURL(%q): %v", c.URL(), err)
	}
	if len(opts.Addrs) != 6 || !opts.IsClusterMode {
		t.Fatalf("ParseRedisURL(%q) = %+v, want 6 seeds in cluster mode", c.URL(), opts)
	}
	uc := redis.NewUniversalClient(opts)
	t.Cleanup(func() { _ = uc.Close() })
	if _, ok := uc.(*redis.ClusterClient); !ok {
		t.Fatalf("URL client is a %T, want *redis.ClusterClient", uc)
	}

	// Keys spread over every primary, and each is where the layout says.
	cc := c.Client()
	keys := make([]string, 60)
	for i := range keys {
		keys[i] = fmt.Sprint("key-", i)
		if err := uc.Set(ctx, keys[i], i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	perNode := map[string]int{}
	for i, k := range keys {
		if got, err := cc.Get(ctx, k).Int(); err != nil || got != i {
			t.Fatalf("GET %s = %d, %v", k, got, err)
		}
		p := c.PrimaryFor(k)
		perNode[p.Addr]++
		node := redis.NewClient(&redis.Options{Addr: p.Addr})
		n, err := node.Exists(ctx, k).Result()
		node.Close()
		if err != nil || n != 1 {
			t.Fatalf("%s not on %s, its slot's primary: %d, %v", k, p.Addr, n, err)
		}
	}
	if len(perNode) != 3 {
		t.Errorf("keys landed on %d primaries (%v), want 3", len(perNode), perNode)
	}
	st := c.Stats()
	for addr, n := range perNode {
		if st[addr].Calls["set"] != int64(n) {
			t.Errorf("%s: %d SETs in commandstats, want %d", addr, st[addr].Calls["set"], n)
		}
	}

	// Kill the primary of key-0 after its replica has the writes.
	dead := c.PrimaryFor(keys[0])
	replica := c.ReplicasOf(dead)[0]
	if err := waitReplicated(ctx, dead); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	dead.Kill()
	c.WaitFailover(dead)
	failover := time.Since(killed)
	if p := c.PrimaryFor(keys[0]); p != replica {
		t.Fatalf("after failover %s serves key-0, want the replica %s", p.Addr, replica.Addr)
	}
	// go-redis reloads its slot map only on MOVED or once a minute
	// (ClusterStateReloadInterval): without this it dials the dead primary
	// for up to 60s.
	cc.ReloadState(ctx)
	back := retryUntil(t, func() error { return cc.Set(ctx, keys[0], "after", 0).Err() })
	t.Logf("failover: cluster ok %s after SIGKILL; the client, its slot map reloaded, wrote again %s later",
		failover.Round(time.Millisecond), back.Round(time.Millisecond))
	for i, k := range keys[1:] {
		if got, err := cc.Get(ctx, k).Int(); err != nil || got != i+1 {
			t.Errorf("GET %s after failover = %d, %v", k, got, err)
		}
	}

	// The dead node comes back as a replica of its successor.
	restarted := time.Now()
	c.Rejoin(dead)
	t.Logf("killed primary rejoined as a replica in %s", time.Since(restarted).Round(time.Millisecond))
	if rs := c.ReplicasOf(replica); len(rs) != 1 || rs[0] != dead {
		t.Errorf("replicas of the new primary = %v, want the restarted node", rs)
	}
}

// waitReplicated waits until a replica of the primary p has acknowledged
// all its writes.
func waitReplicated(ctx context.Context, p *redistest.Server) error {
	n, err := p.Client().Wait(ctx, 1, 5*time.Second).Result()
	if err != nil || n < 1 {
		return fmt.Errorf("WAIT on %s: %d replicas, %v", p.Addr, n, err)
	}
	return nil
}

// retryUntil calls f until it succeeds, for up to 30s, and returns how
// long that took.
func retryUntil(t *testing.T, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := f()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("still failing after 30s: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
