package redistest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/setup"
)

func TestSentinel(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := redistest.StartSentinel(t, redistest.SentinelOptions{})
	t.Logf("primary, replica and 3 sentinels started and healthy in %s", time.Since(start).Round(time.Millisecond))
	ctx := ctxFor(t)

	// The URL is one the worker accepts, and its client finds the primary.
	opts, err := setup.ParseRedisURL(s.URL())
	if err != nil {
		t.Fatalf("ParseRedisURL(%q): %v", s.URL(), err)
	}
	if opts.MasterName != s.MasterName || len(opts.Addrs) != 3 {
		t.Fatalf("ParseRedisURL(%q) = %+v, want master %q and 3 sentinels", s.URL(), opts, s.MasterName)
	}
	uc := redis.NewUniversalClient(opts)
	t.Cleanup(func() { _ = uc.Close() })

	// Both sides have passwords, as in production: neither a data node nor
	// a sentinel answers without one.
	for _, n := range []*redistest.Server{s.Data[0], s.Sentinels[0]} {
		bare := redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
		if err := bare.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
			t.Errorf("PING %s without a password: %v, want NOAUTH", n.Addr, err)
		}
		_ = bare.Close()
	}

	old := s.Primary()
	if old != s.Data[0] {
		t.Fatalf("primary %s, want the first data node %s", old.Addr, s.Data[0].Addr)
	}
	c := s.Client()
	for i := range 20 {
		if err := uc.Set(ctx, fmt.Sprint("key-", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := c.Get(ctx, "key-7").Int(); err != nil || got != 7 {
		t.Fatalf("GET key-7 = %d, %v", got, err)
	}
	if n := s.Stats()[old.Addr].Calls["set"]; n != 20 {
		t.Errorf("%d SETs on the primary, want 20", n)
	}
	if err := waitReplicated(ctx, old); err != nil {
		t.Fatal(err)
	}

	killed := time.Now()
	if p := s.KillPrimary(); p != old {
		t.Fatalf("KillPrimary killed %s, want %s", p.Addr, old.Addr)
	}
	promoted := s.WaitFailover(old)
	failover := time.Since(killed)
	if promoted != s.Data[1] {
		t.Fatalf("promoted %v, want the replica %s", promoted, s.Data[1].Addr)
	}
	back := retryUntil(t, func() error { return c.Set(ctx, "after", 1, 0).Err() })
	urlBack := retryUntil(t, func() error { return uc.Set(ctx, "after-url", 1, 0).Err() })
	t.Logf("failover: sentinels name a new primary %s after SIGKILL; the failover client wrote again %s later, the URL's client %s later",
		failover.Round(time.Millisecond), back.Round(time.Millisecond), (back + urlBack).Round(time.Millisecond))
	if got, err := uc.Get(ctx, "key-19").Int(); err != nil || got != 19 {
		t.Errorf("GET key-19 after failover = %d, %v", got, err)
	}

	// The old primary comes back as a replica of the new one.
	restarted := time.Now()
	s.Rejoin(old)
	t.Logf("killed primary rejoined as a replica in %s", time.Since(restarted).Round(time.Millisecond))
	if s.Primary() != promoted {
		t.Errorf("primary %s after the old one came back, want %s", s.Primary().Addr, promoted.Addr)
	}
}
