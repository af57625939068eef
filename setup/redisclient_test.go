package setup_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
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

// TestDeadlinesHoldWhenRedisHangs: with the primary stopped (SIGSTOP: the
// kernel still accepts connections, nothing answers), a call with a 100ms
// deadline returns by about then, on every topology: a command on a pooled
// connection, a pipeline, a script, and the first command of a new client
// (dial and handshake). go-redis on its own waits its ReadTimeout.
func TestDeadlinesHoldWhenRedisHangs(t *testing.T) {
	const key = "hang-key"
	const deadline = 100 * time.Millisecond
	// Generous for a loaded CI machine; the point is "by the deadline", not
	// "after the 2s ReadTimeout".
	const within = deadline + 150*time.Millisecond
	script := redis.NewScript(`return redis.call("GET", KEYS[1])`)
	for _, topo := range redistest.Topologies() {
		t.Run(topo.Name, func(t *testing.T) {
			t.Parallel()
			env := topo.Start(t)
			opts, err := setup.ParseRedisURL(env.URL)
			if err != nil {
				t.Fatal(err)
			}
			warm := setup.NewRedisClient(opts)
			defer warm.Close()
			cold := setup.NewRedisClient(opts)
			defer cold.Close()
			ctx := context.Background()
			if err := warm.Set(ctx, key, "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if err := script.Load(ctx, warm).Err(); err != nil {
				t.Fatal(err)
			}
			if c, ok := cold.(*redis.ClusterClient); ok {
				// The cold client knows the slots, as a worker does once
				// it runs; it has no connection to the primary yet.
				c.ReloadState(ctx)
				for range 100 {
					if c.ClusterShards(ctx).Err() == nil {
						break
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			calls := []struct {
				name string
				call func(ctx context.Context) error
			}{
				{"get", func(ctx context.Context) error { return warm.Get(ctx, key).Err() }},
				{"pipeline", func(ctx context.Context) error {
					_, err := warm.Pipelined(ctx, func(p redis.Pipeliner) error {
						p.Get(ctx, key)
						p.Set(ctx, key, "w", 0)
						return nil
					})
					return err
				}},
				{"script", func(ctx context.Context) error { return script.Run(ctx, warm, []string{key}).Err() }},
				{"new connection", func(ctx context.Context) error { return cold.Get(ctx, key).Err() }},
			}
			p := env.PrimaryFor(key)
			p.Pause()
			resumed := false
			defer func() {
				if !resumed {
					p.Resume()
				}
			}()
			// Keep the pause well under the test topologies' 1s failure
			// detection, so that nothing fails over meanwhile.
			took := make([]time.Duration, len(calls))
			errs := make([]error, len(calls))
			for i, c := range calls {
				cctx, cancel := context.WithTimeout(ctx, deadline)
				start := time.Now()
				errs[i] = c.call(cctx)
				took[i] = time.Since(start)
				cancel()
			}
			p.Resume()
			resumed = true
			for i, c := range calls {
				t.Logf("%s: returned after %v: %v", c.name, took[i].Round(time.Millisecond), errs[i])
				if errs[i] == nil {
					t.Errorf("%s: succeeded against a stopped Redis", c.name)
				}
				if took[i] > within {
					t.Errorf("%s: returned after %v, want within %v of a %v deadline", c.name, took[i], within-deadline, deadline)
				}
			}
			// And the client works again once Redis answers.
			if err := warm.Get(ctx, key).Err(); err != nil {
				t.Errorf("after resume: %v", err)
			}
		})
	}
}
