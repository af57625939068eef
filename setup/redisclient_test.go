package setup_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/redistest"
	"github.com/jobrunner/jobrunner/setup"
)

// TestNewRedisClientFollowsClusterFailover: after the primary of a key's
// slot is killed and its replica promoted, a client from NewRedisClient
// writes the key again within a couple of seconds. go-redis's own cluster
// client keeps dialing the dead primary for up to a minute.
func TestNewRedisClientFollowsClusterFailover(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterOptions{})
	opts, err := setup.ParseRedisURL(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := setup.NewRedisClient(opts)
	defer rdb.Close()
	if _, ok := rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("NewRedisClient(%s) = %T, want a cluster client", c.URL(), rdb)
	}
	plain := redis.NewUniversalClient(opts)
	defer plain.Close()
	ctx := context.Background()
	const key = "failover-key"
	for _, r := range []redis.UniversalClient{rdb, plain} {
		if err := r.Set(ctx, key, "before", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}

	dead := c.KillPrimaryFor(key)
	// Commands fail while the cluster notices; they are what prompts the
	// reload (and the periodic one covers an idle client).
	for range 5 {
		_ = rdb.Set(ctx, key, "during", 0).Err()
		time.Sleep(100 * time.Millisecond)
	}
	c.WaitFailover(dead)
	failedOver := time.Now()
	var lastErr error
	for time.Since(failedOver) < 10*time.Second {
		if lastErr = rdb.Set(ctx, key, "after", 0).Err(); lastErr == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(failedOver)
	t.Logf("NewRedisClient wrote %v after the failover (err %v)", took.Round(time.Millisecond), lastErr)
	if lastErr != nil || took > 3*time.Second {
		t.Fatalf("NewRedisClient: write after the failover: %v after %v, want success within 3s", lastErr, took)
	}
	// What the fix is for: go-redis's client still targets the dead node.
	err = plain.Set(ctx, key, "after", 0).Err()
	t.Logf("go-redis's default cluster client right after: %v", err)
}

func TestNewRedisClientKinds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		url  string
		want string
	}{
		{"redis://127.0.0.1:1", "*redis.Client"},
		{"redis-cluster://127.0.0.1:1", "*redis.ClusterClient"},
		{"redis-sentinel://127.0.0.1:1?master=m", "*redis.Client"},
	} {
		opts, err := setup.ParseRedisURL(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		rdb := setup.NewRedisClient(opts)
		got := "other"
		switch rdb.(type) {
		case *redis.ClusterClient:
			got = "*redis.ClusterClient"
		case *redis.Client:
			got = "*redis.Client"
		}
		_ = rdb.Close()
		if got != tc.want {
			t.Errorf("NewRedisClient(%s) = %s, want %s", tc.url, got, tc.want)
		}
	}
}
