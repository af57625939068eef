package lockcore_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/internal/testkit/clock"
)

func TestMemoryClock(t *testing.T) {
	t.Parallel()
	clock := clock.NewFake()
	s := lockcore.NewMemoryStore(lockcore.MemoryConfig{Now: clock.Now})
	c := context.Background()

	l, err := s.Acquire(c, "k", time.Hour, -1)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(59 * time.Minute)
	if err := l.Extend(c); err != nil {
		t.Fatalf("Extend within the TTL: %v", err)
	}
	clock.Advance(61 * time.Minute)
	if err := l.Extend(c); !errors.Is(err, lockcore.ErrLockLost) {
		t.Fatalf("Extend after the TTL = %v", err)
	}
	select {
	case <-l.Lost():
	default:
		t.Fatal("Lost not closed")
	}

	a, err := s.Admit(c, lockcore.AdmitRequest{DedupeKey: "d", TaskID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Complete(c, lockcore.CompleteRequest{Marker: a.Marker, Result: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(23 * time.Hour)
	if a, _ := s.Admit(c, lockcore.AdmitRequest{DedupeKey: "d", TaskID: "t2"}); a.Verdict != lockcore.Done {
		t.Fatalf("within the window: %v", a.Verdict)
	}
	clock.Advance(2 * time.Hour)
	if a, _ := s.Admit(c, lockcore.AdmitRequest{DedupeKey: "d", TaskID: "t2"}); a.Verdict != lockcore.Admitted {
		t.Fatalf("after the 24h window: %v", a.Verdict)
	}

	if a, _ := s.Admit(c, lockcore.AdmitRequest{DedupeKey: "m", TaskID: "t1"}); a.Verdict != lockcore.Admitted {
		t.Fatalf("admit m: %v", a.Verdict)
	}
	clock.Advance(lockcore.MarkerTTLDefault)
	if a, _ := s.Admit(c, lockcore.AdmitRequest{DedupeKey: "m", TaskID: "t2"}); a.Verdict != lockcore.Admitted {
		t.Fatalf("the marker outlived the 300s default: %v", a.Verdict)
	}
}

func TestMemoryStoreError(t *testing.T) {
	t.Parallel()
	s := lockcore.NewMemoryStore(lockcore.MemoryConfig{})
	down := errors.New("down")
	s.SetError(down)
	_, err := s.Acquire(context.Background(), "k", 0, 0)
	var se *lockcore.StoreError
	if !errors.As(err, &se) || !errors.Is(err, down) || errors.Is(err, lockcore.ErrNotObtained) || se.Op != "acquire" || se.Key != "k" {
		t.Fatalf("Acquire = %v, want a *StoreError", err)
	}
	s.SetError(nil)
	if _, err := s.Acquire(context.Background(), "k", 0, 0); err != nil {
		t.Fatal(err)
	}
}

// TestRenewerFakeTime runs the renewer in a synctest bubble: minutes of fake
// time, no real sleeping.
func TestRenewerFakeTime(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := lockcore.NewMemoryStore(lockcore.MemoryConfig{})
		r := lockcore.NewRenewer(lockcore.RenewerConfig{})
		r.Start()
		defer r.Shutdown()
		a, err := s.Admit(context.Background(), lockcore.AdmitRequest{DedupeKey: "d", TaskID: "t", LockKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		job, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		untrack := r.Track(func(err error) { cancel(err) }, a.Leases()...)
		defer untrack()

		time.Sleep(10 * time.Minute) // 20 lock TTLs, 2 marker TTLs
		// A renewal is due at this very instant: let it land before
		// reading the deadline it sets.
		synctest.Wait()
		if job.Err() != nil {
			t.Fatalf("lost while renewed: %v", context.Cause(job))
		}
		renewed := a.Lock.Deadline()
		down := errors.New("down")
		s.SetError(down)
		select {
		case <-job.Done():
		case <-time.After(lockcore.LockTTLDefault):
			t.Fatal("not lost within the TTL")
		}
		cause := context.Cause(job)
		var le *lockcore.LostError
		if !errors.As(cause, &le) || le.Reason != lockcore.LostExpired || !errors.Is(cause, down) || le.Key != "k" {
			t.Fatalf("cause = %v, want the lock expired with the renewal error", cause)
		}
		if lostAt := time.Now(); lostAt.After(renewed) {
			t.Errorf("lost %s after the local deadline", lostAt.Sub(renewed))
		}
		s.SetError(nil)
	})
}

// TestRenewerStartsAgainAfterShutdown covers a caller whose start failed
// half-way: it shut the renewer down and starts it again; leases tracked
// from then on must be renewed, not lost at their TTL.
func TestRenewerStartsAgainAfterShutdown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := lockcore.NewMemoryStore(lockcore.MemoryConfig{})
		r := lockcore.NewRenewer(lockcore.RenewerConfig{})
		r.Start()
		r.Shutdown()
		r.Shutdown() // twice is fine
		r.Start()
		r.Start() // so is starting a running loop
		defer r.Shutdown()
		l, err := s.Acquire(context.Background(), "k", time.Second, -1)
		if err != nil {
			t.Fatal(err)
		}
		untrack := r.Track(nil, l)
		defer untrack()
		time.Sleep(time.Minute)
		synctest.Wait()
		if err := l.Err(); err != nil {
			t.Fatalf("lease lost after a restart of the renewer: %v", err)
		}
	})
}

// TestUntrackStopsLossCallbacks: after untrack a lease's loss no longer
// reaches that Track call's callback, while another Track call on the same
// lease still hears of it, once.
func TestUntrackStopsLossCallbacks(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := lockcore.NewMemoryStore(lockcore.MemoryConfig{})
		r := lockcore.NewRenewer(lockcore.RenewerConfig{})
		l, err := s.Acquire(context.Background(), "k", time.Second, -1)
		if err != nil {
			t.Fatal(err)
		}
		var gone, kept []error
		untrackGone := r.Track(func(err error) { gone = append(gone, err) }, l)
		untrackKept := r.Track(func(err error) { kept = append(kept, err) }, l, nil)
		defer untrackKept()
		untrackGone()
		untrackGone()               // twice is fine
		time.Sleep(2 * time.Second) // not renewed (no loop): the lease expires
		synctest.Wait()
		if len(gone) != 0 {
			t.Errorf("untracked callback ran %d times", len(gone))
		}
		var le *lockcore.LostError
		if len(kept) != 1 || !errors.As(kept[0], &le) || le.Reason != lockcore.LostExpired {
			t.Fatalf("tracked callback got %v, want one expiry", kept)
		}
		// A lease already lost calls a new Track's callback at once.
		var late []error
		r.Track(func(err error) { late = append(late, err) }, l)()
		if len(late) != 1 {
			t.Errorf("Track on a lost lease: callback ran %d times, want 1", len(late))
		}
	})
}
