package lockcore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// renewalWatch is a go-redis hook that watches renewal pipelines: how many
// are in flight at once, whether a key is in two at once, and how long the
// longest took.
type renewalWatch struct {
	mu       sync.Mutex
	on       bool
	inFlight map[string]int
	calls    int
	peak     int
	overlap  string
	longest  time.Duration
}

func (w *renewalWatch) start() {
	w.mu.Lock()
	w.on, w.inFlight = true, map[string]int{}
	w.mu.Unlock()
}

func (w *renewalWatch) DialHook(next redis.DialHook) redis.DialHook { return next }

func (w *renewalWatch) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (w *renewalWatch) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var keys []string
		for _, c := range cmds {
			if args := c.Args(); len(args) > 3 && c.Name() == "evalsha" {
				keys = append(keys, fmt.Sprint(args[3])) // EVALSHA sha 1 key ...
			}
		}
		w.mu.Lock()
		if !w.on || len(keys) == 0 { // not ours: a connection's handshake
			w.mu.Unlock()
			return next(ctx, cmds)
		}
		for _, k := range keys {
			if w.inFlight[k]++; w.inFlight[k] > 1 {
				w.overlap = k
			}
		}
		w.calls++
		w.peak = max(w.peak, w.calls)
		w.mu.Unlock()
		start := time.Now()
		err := next(ctx, cmds)
		took := time.Since(start)
		w.mu.Lock()
		w.calls--
		for _, k := range keys {
			w.inFlight[k]--
		}
		w.longest = max(w.longest, took)
		w.mu.Unlock()
		return err
	}
}

// pausedStore starts a dedicated redis-server and a RedisStore on it whose
// client bounds every call by its context (ContextTimeoutEnabled, without
// which go-redis waits out its read timeout on a stopped server), watched.
func pausedStore(t *testing.T) (*redistest.Server, *redis.Client, *lockcore.RedisStore, *renewalWatch) {
	t.Helper()
	srv := startRedis(t)
	if srv.Embedded {
		t.Skip("needs redis-server: the test stops it with SIGSTOP")
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	w := &renewalWatch{}
	c.AddHook(w)
	return srv, c, lockcore.NewRedisStore(c, lockcore.RedisConfig{}), w
}

// acquire takes a lock of ttl for each key.
func acquire(t *testing.T, s *lockcore.RedisStore, ttl time.Duration, keys ...string) []*lockcore.Lease {
	t.Helper()
	leases := make([]*lockcore.Lease, len(keys))
	for i, k := range keys {
		l, err := s.Acquire(ctx(t), k, ttl, -1)
		if err != nil {
			t.Fatal(err)
		}
		leases[i] = l
	}
	return leases
}

// trackLoss tracks l until the test ends; the returned channel gets the
// time it was reported lost.
func trackLoss(t *testing.T, r *lockcore.Renewer, l *lockcore.Lease) <-chan time.Time {
	lost := make(chan time.Time, 1)
	t.Cleanup(r.Track(func(error) { lost <- time.Now() }, l))
	return lost
}

// TestRenewerSurvivesAPause: Redis stopped (SIGSTOP) for three quarters of
// the TTL, as a paused VM or a long fork stops it, right after a renewal,
// then resumed. A renewal times out meanwhile and others wait, among them
// those of leases tracked during the pause, each in a round trip of its
// own; nothing is reported lost, the locks are still held in Redis
// afterwards, and no lease was ever in two round trips at once.
func TestRenewerSurvivesAPause(t *testing.T) {
	t.Parallel()
	srv, c, s, watch := pausedStore(t)
	var renewErrs atomic.Int64
	r := startRenewer(t, lockcore.RenewerConfig{OnError: func(error) { renewErrs.Add(1) }})
	const ttl = 2 * time.Second
	first := acquire(t, s, ttl, "first")[0]
	lost := []<-chan time.Time{trackLoss(t, r, first)}
	watch.start()
	// Wait for a renewal, so that the pause starts a TTL before the
	// deadline: a pause can outlast a lease only by starting later.
	renewed := first.Deadline()
	for first.Deadline().Equal(renewed) {
		time.Sleep(2 * time.Millisecond)
	}
	late := acquire(t, s, ttl, "late0", "late1")

	srv.Pause()
	pausedAt := time.Now()
	for _, l := range late {
		time.Sleep(ttl / 8)
		lost = append(lost, trackLoss(t, r, l))
	}
	time.Sleep(time.Until(pausedAt.Add(ttl * 3 / 4)))
	srv.Resume()
	time.Sleep(ttl)

	for i, l := range append([]*lockcore.Lease{first}, late...) {
		select {
		case at := <-lost[i]:
			t.Fatalf("%s lost %s after the pause began: %v", l.Key(), at.Sub(pausedAt), l.Err())
		default:
		}
		if got := c.Get(ctx(t), "jobrunner:{"+l.Key()+"}:lock").Val(); !strings.HasSuffix(got, ":"+l.Token()) {
			t.Errorf("%s: the lock holds %q after the pause, want its token", l.Key(), got)
		}
	}
	watch.mu.Lock()
	defer watch.mu.Unlock()
	t.Logf("renewal errors %d, round trips in flight at most %d, longest %s", renewErrs.Load(), watch.peak, watch.longest)
	if renewErrs.Load() == 0 {
		t.Error("no renewal timed out during the pause: the test proves nothing")
	}
	if watch.overlap != "" {
		t.Errorf("%s was in two renewal round trips at once", watch.overlap)
	}
	if watch.peak < 2 || watch.peak > lockcore.MaxInFlightDefault {
		t.Errorf("%d renewal round trips in flight at once, want 2 to MaxInFlightDefault", watch.peak)
	}
}

// TestRenewerLosesAtTheDeadlineWhenPausedLonger: Redis stopped for longer
// than the TTL. Every lease is lost at its local deadline (the request of
// its last successful renewal plus the TTL, less the drift allowance):
// not before, although renewals time out all along, and not much after.
func TestRenewerLosesAtTheDeadlineWhenPausedLonger(t *testing.T) {
	t.Parallel()
	srv, _, s, _ := pausedStore(t)
	var renewErrs atomic.Int64
	r := startRenewer(t, lockcore.RenewerConfig{OnError: func(error) { renewErrs.Add(1) }})
	const ttl = time.Second
	var leases []*lockcore.Lease
	var lost []<-chan time.Time
	for i := range 3 { // renewed at different times
		l := acquire(t, s, ttl, fmt.Sprint("k", i))[0]
		leases, lost = append(leases, l), append(lost, trackLoss(t, r, l))
		time.Sleep(ttl / 5)
	}

	srv.Pause()
	defer srv.Resume()
	time.Sleep(50 * time.Millisecond) // replies already sent are read
	deadlines := make([]time.Time, len(leases))
	for i, l := range leases {
		deadlines[i] = l.Deadline()
	}
	for i, l := range leases {
		select {
		case at := <-lost[i]:
			if at.Before(deadlines[i]) || at.Sub(deadlines[i]) > 150*time.Millisecond {
				t.Errorf("lease %d lost %s after its deadline, want at the deadline", i, at.Sub(deadlines[i]))
			}
		case <-time.After(2 * ttl):
			t.Fatalf("lease %d not lost with Redis stopped for twice its TTL", i)
		}
		var le *lockcore.LostError
		if err := l.Err(); !errors.As(err, &le) || le.Reason != lockcore.LostExpired || le.Err == nil {
			t.Errorf("lease %d: cause %v, want LostExpired with the renewal's error", i, err)
		}
	}
	if renewErrs.Load() == 0 {
		t.Error("no renewal failed while Redis was stopped")
	}
}
