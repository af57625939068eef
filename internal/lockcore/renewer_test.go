package lockcore_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

// errorLog collects the errors a Renewer reports, from any goroutine.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errorLog) get() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// TestRenewerStuckCallHoldsNothingUp: a renewal round trip that hangs (a
// stuck connection: the store answers other calls) does not delay the
// renewal of the other leases, among them one with a short TTL tracked
// meanwhile, and its own lease is not lost because it timed out: the retry
// succeeds long before the lease's deadline.
func TestRenewerStuckCallHoldsNothingUp(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := lockcore.NewMemoryStore(lockcore.MemoryConfig{})
		errs := &errorLog{}
		r := lockcore.NewRenewer(lockcore.RenewerConfig{OnError: errs.add})
		r.Start()
		defer r.Shutdown()
		bg := context.Background()
		long, err := s.Acquire(bg, "long", 30*time.Second, -1)
		if err != nil {
			t.Fatal(err)
		}
		lost := &errorLog{}
		defer r.Track(lost.add, long)()

		// The first renewal of long is due 5s to 10s in: it gets stuck
		// (timeout 10s, a third of its TTL); the store answers calls sent
		// after that at once.
		time.Sleep(4 * time.Second)
		s.SetDelay(time.Hour)
		time.Sleep(7 * time.Second)
		s.SetDelay(0)
		stuckSince := long.Deadline().Add(-30 * time.Second) // not renewed since its grant

		short, err := s.Acquire(bg, "short", 600*time.Millisecond, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Track(lost.add, short)()
		time.Sleep(3 * time.Second) // five TTLs of short, while long's call hangs
		synctest.Wait()
		if got := lost.get(); len(got) != 0 {
			t.Fatalf("lost while another lease's renewal hung: %v", got)
		}
		if !short.Deadline().After(time.Now()) {
			t.Fatal("short was not renewed")
		}
		if len(errs.get()) != 0 || !long.Deadline().Add(-30*time.Second).Equal(stuckSince) {
			t.Fatal("long's stuck renewal ended before its timeout; the test proves nothing")
		}

		time.Sleep(10 * time.Second) // long's call times out and is retried
		synctest.Wait()
		if got := lost.get(); len(got) != 0 {
			t.Fatalf("lost after a renewal timed out: %v", got)
		}
		got := errs.get()
		var se *lockcore.StoreError
		if len(got) != 1 || !errors.As(got[0], &se) || !errors.Is(got[0], context.DeadlineExceeded) {
			t.Fatalf("renewal errors %v, want the one timeout", got)
		}
		if !long.Deadline().After(time.Now().Add(25 * time.Second)) {
			t.Fatalf("long not renewed after the timeout: deadline in %s", time.Until(long.Deadline()))
		}
	})
}

// TestRenewerLosesOnlyAtTheDeadline: with every renewal hanging, renewals
// time out one after the other, and the lease is lost at its local
// deadline (the request of its last successful renewal plus its TTL, less
// the drift allowance), not at the first timeout.
func TestRenewerLosesOnlyAtTheDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := lockcore.NewMemoryStore(lockcore.MemoryConfig{})
		errs := &errorLog{}
		r := lockcore.NewRenewer(lockcore.RenewerConfig{OnError: errs.add})
		r.Start()
		defer r.Shutdown()
		l, err := s.Acquire(context.Background(), "k", 3*time.Second, -1)
		if err != nil {
			t.Fatal(err)
		}
		lost := make(chan time.Time, 1)
		defer r.Track(func(error) { lost <- time.Now() }, l)()
		// Renewed at 1s and 2s; the store hangs from 2.5s on, between
		// renewals, so that no renewal races the change.
		time.Sleep(2500 * time.Millisecond)
		synctest.Wait()
		s.SetDelay(time.Hour)
		deadline := l.Deadline()
		if !deadline.After(time.Now().Add(2 * time.Second)) {
			t.Fatalf("deadline in %s: not renewed", time.Until(deadline))
		}
		var lostAt time.Time
		select {
		case lostAt = <-lost:
		case <-time.After(time.Minute):
			t.Fatal("not lost with every renewal hanging")
		}
		if !lostAt.Equal(deadline) {
			t.Errorf("lost %s after the deadline", lostAt.Sub(deadline))
		}
		synctest.Wait() // the renewal that timed out at the deadline has reported
		if n := len(errs.get()); n < 2 {
			t.Errorf("%d renewals timed out before the loss, want several", n)
		}
		var le *lockcore.LostError
		if err := l.Err(); !errors.As(err, &le) || le.Reason != lockcore.LostExpired || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("cause = %v, want LostExpired with the renewal's timeout", err)
		}
		s.SetDelay(0)
	})
}
