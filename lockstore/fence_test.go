package lockstore_test

import (
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/lockstore"
)

// TestRedisFenceOutlivesItsCounter: a fence key that lost its last grants
// (a replica promoted before it had them; here the key is simply deleted)
// still yields a larger fence, through Acquire and through Admit, because
// fences follow the server's clock.
func TestRedisFenceOutlivesItsCounter(t *testing.T) {
	t.Parallel()
	c := startRedis(t).Client()
	s := lockstore.NewRedisStore(c, lockstore.RedisConfig{Prefix: "fc"})
	var last int64
	for i, admit := range []bool{false, true, false, true} {
		var fence int64
		if admit {
			a, err := s.Admit(ctx(t), lockstore.AdmitRequest{DedupeKey: "d", TaskID: "t", LockKey: "k", LockTTL: time.Second})
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
		if err := c.Del(ctx(t), "fc:{k}:fence").Err(); err != nil { // the counter is lost
			t.Fatal(err)
		}
	}
}
