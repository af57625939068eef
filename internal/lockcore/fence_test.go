package lockcore_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

// TestRedisFenceOutlivesItsCounter: a lock key that lost its last grants
// (a replica promoted before it had them; here the key is simply deleted)
// still yields a larger fence, through Acquire and through Admit, because
// fences follow the server's clock.
func TestRedisFenceOutlivesItsCounter(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client()
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{Prefix: "fc"})
	var last int64
	for i, admit := range []bool{false, true, false, true} {
		var fence int64
		if admit {
			a, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "d", TaskID: "t", LockKey: "k", LockTTL: time.Second})
			if err != nil || a.Lock == nil {
				t.Fatalf("admit: %+v, %v", a, err)
			}
			fence = a.Lock.Fence()
			if _, err := s.Abandon(ctx(t), a.Marker, a.Lock); err != nil {
				t.Fatal(err)
			}
		} else {
			l, err := s.Acquire(ctx(t), "k", time.Second, 0)
			if err != nil {
				t.Fatal(err)
			}
			fence = l.Fence()
			if _, err := l.Release(ctx(t)); err != nil {
				t.Fatal(err)
			}
		}
		if fence <= last {
			t.Fatalf("grant %d (admit %v): fence %d after %d", i, admit, fence, last)
		}
		last = fence
		if err := c.Del(ctx(t), "fc:{k}:lock").Err(); err != nil { // the lock and its fence are lost
			t.Fatal(err)
		}
	}
}

// TestRedisFenceKeyExpires: every grant, through Acquire and through
// Admit, and on the path where the key is ahead of the clock, and every
// release, leaves the lock key (which holds the fence) with a TTL of a day, so that a lock key used once does not
// keep a key forever; and a grant after the key expired (for real, in
// Redis) still hands out a larger fence.
func TestRedisFenceKeyExpires(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client()
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{Prefix: "fx"})
	const fenceKey = "fx:{k}:lock"
	grant := func(admit bool) int64 {
		t.Helper()
		if admit {
			a, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "d", TaskID: "t", LockKey: "k", LockTTL: time.Second})
			if err != nil || a.Lock == nil {
				t.Fatalf("admit: %+v, %v", a, err)
			}
			if _, err := s.Abandon(ctx(t), a.Marker, a.Lock); err != nil {
				t.Fatal(err)
			}
			return a.Lock.Fence()
		}
		l, err := s.Acquire(ctx(t), "k", time.Second, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Release(ctx(t)); err != nil {
			t.Fatal(err)
		}
		return l.Fence()
	}
	wantDay := func(when string) {
		t.Helper()
		if ttl := c.PTTL(ctx(t), fenceKey).Val(); ttl < lockcore.FenceTTL-time.Minute || ttl > lockcore.FenceTTL {
			t.Fatalf("%s: fence key TTL %s, want %s", when, ttl, lockcore.FenceTTL)
		}
	}
	var last int64
	for i, admit := range []bool{false, true, false, true} {
		fence := grant(admit)
		if fence <= last {
			t.Fatalf("grant %d (admit %v): fence %d after %d", i, admit, fence, last)
		}
		last = fence
		wantDay(fmt.Sprintf("grant %d (admit %v)", i, admit))
		// The key expires: the next grant still follows the clock.
		if err := c.PExpire(ctx(t), fenceKey, time.Millisecond).Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
		if n := c.Exists(ctx(t), fenceKey).Val(); n != 0 {
			t.Fatalf("fence key still there after its TTL")
		}
	}
	// Ahead of the clock, the fence counts on by one, and the key keeps
	// the TTL the grant gave.
	const ahead = 8_000_000_000_000_000
	for _, admit := range []bool{false, true} {
		if err := c.Set(ctx(t), fenceKey, ahead, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if f := grant(admit); f != ahead+1 {
			t.Fatalf("admit %v: fence %d, want %d", admit, f, int64(ahead+1))
		}
		wantDay(fmt.Sprintf("ahead of the clock, admit %v", admit))
	}
}

// TestRedisFenceAheadOfTheClock: a fence ahead of the server's clock
// (more than one grant per microsecond, or a clock set back) counts on by
// one, through Acquire and through Admit.
func TestRedisFenceAheadOfTheClock(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client()
	s := lockcore.NewRedisStore(c, lockcore.RedisConfig{Prefix: "fa"})
	const ahead = 8_000_000_000_000_000 // about the year 2223, in µs
	if err := c.Set(ctx(t), "fa:{k}:lock", ahead, 0).Err(); err != nil {
		t.Fatal(err)
	}
	l, err := s.Acquire(ctx(t), "k", time.Second, 0)
	if err != nil {
		t.Fatal(err)
	}
	if l.Fence() != ahead+1 {
		t.Fatalf("fence %d, want %d", l.Fence(), int64(ahead+1))
	}
	if _, err := l.Release(ctx(t)); err != nil {
		t.Fatal(err)
	}
	a, err := s.Admit(ctx(t), lockcore.AdmitRequest{DedupeKey: "d", TaskID: "t", LockKey: "k", LockTTL: time.Second})
	if err != nil || a.Lock == nil || a.Lock.Fence() != ahead+2 {
		t.Fatalf("admit: %+v, %v; want fence %d", a, err, int64(ahead+2))
	}
}

// TestLockTakeIsOneFunction: the two scripts that grant locks take
// lockTake from lock.lua alone, so the two ways to take a lock cannot hand
// out fences differently.
func TestLockTakeIsOneFunction(t *testing.T) {
	for _, file := range []string{"lua/acquire.lua", "lua/admit.lua"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(src), "function lockTake") || !strings.Contains(string(src), "lockTake(") {
			t.Errorf("%s defines lockTake itself, or does not call it: it must come from lock.lua", file)
		}
	}
	lock, err := os.ReadFile("lua/lock.lua")
	if err != nil || strings.Count(string(lock), "local function lockTake") != 1 {
		t.Fatalf("lua/lock.lua does not define lockTake once (%v)", err)
	}
}
