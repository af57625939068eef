package lockstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/lockcore"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/lockstore"
)

// stores returns a Store on a private Redis and one in memory, with short
// retries so that waits are quick.
func stores(t *testing.T) map[string]*lockstore.Store {
	cfg := lockstore.Config{RetryMax: 20 * time.Millisecond}
	return map[string]*lockstore.Store{
		"redis":  lockstore.NewRedisStore(redistest.Start(t).Client(), cfg),
		"memory": lockstore.NewMemoryStore(cfg),
	}
}

func TestLockExcludesAndFencesIncrease(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			a, err := s.Acquire(ctx, "invoice:1", time.Minute, -1)
			if err != nil {
				t.Fatal(err)
			}
			if a.Key() != "invoice:1" || len(a.Token()) != 32 || a.TTL() != time.Minute {
				t.Fatalf("lease key %q token %q ttl %v", a.Key(), a.Token(), a.TTL())
			}
			start := time.Now()
			_, err = s.Acquire(ctx, "invoice:1", time.Minute, 100*time.Millisecond)
			if !errors.Is(err, lockstore.ErrNotObtained) {
				t.Fatalf("second Acquire: %v, want ErrNotObtained", err)
			}
			if waited := time.Since(start); waited < 100*time.Millisecond {
				t.Fatalf("gave up after %v, before its wait", waited)
			}
			if res, err := a.Release(ctx); err != nil || res != lockstore.Released {
				t.Fatalf("Release = %v, %v", res, err)
			}
			b, err := s.Acquire(ctx, "invoice:1", time.Minute, -1)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Release(ctx)
			if b.Fence() <= a.Fence() {
				t.Fatalf("fence %d after %d", b.Fence(), a.Fence())
			}
		})
	}
}

func TestWaiterGetsTheLockWhenReleased(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			a, err := s.Acquire(ctx, "k", time.Minute, -1)
			if err != nil {
				t.Fatal(err)
			}
			time.AfterFunc(150*time.Millisecond, func() { _, _ = a.Release(ctx) })
			b, err := s.Acquire(ctx, "k", time.Minute, 5*time.Second)
			if err != nil {
				t.Fatalf("waiter: %v", err)
			}
			if res, _ := b.Release(ctx); res != lockstore.Released {
				t.Fatalf("Release = %v", res)
			}
		})
	}
}

func TestLeaseLostAtDeadlineUnlessExtended(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			kept, err := s.Acquire(ctx, "kept", 300*time.Millisecond, -1)
			if err != nil {
				t.Fatal(err)
			}
			dropped, err := s.Acquire(ctx, "dropped", 300*time.Millisecond, -1)
			if err != nil {
				t.Fatal(err)
			}
			for range 8 { // 800ms: well past the TTL
				time.Sleep(100 * time.Millisecond)
				if err := kept.Extend(ctx); err != nil {
					t.Fatalf("Extend: %v", err)
				}
			}
			if err := kept.Err(); err != nil {
				t.Fatalf("extended lease: %v", err)
			}
			select {
			case <-dropped.Lost():
			default:
				t.Fatal("a lease not extended for 800ms of a 300ms TTL is not lost")
			}
			if err := dropped.Err(); !errors.Is(err, lockstore.ErrLockLost) {
				t.Fatalf("Err = %v, want ErrLockLost", err)
			}
			if err := dropped.Extend(ctx); !errors.Is(err, lockstore.ErrLockLost) {
				t.Fatalf("Extend of a lost lease = %v, want ErrLockLost", err)
			}
			// The lost lock is free for another owner, whose lock the
			// late release leaves alone.
			other, err := s.Acquire(ctx, "dropped", time.Minute, -1)
			if err != nil {
				t.Fatal(err)
			}
			if res, err := dropped.Release(ctx); err != nil || res == lockstore.Released {
				t.Fatalf("late Release = %v, %v", res, err)
			}
			if err := other.Err(); err != nil {
				t.Fatalf("other owner: %v", err)
			}
			if res, _ := other.Release(ctx); res != lockstore.Released {
				t.Fatalf("other owner's Release = %v", res)
			}
			if res, _ := kept.Release(ctx); res != lockstore.Released {
				t.Fatalf("kept Release = %v", res)
			}
		})
	}
}

// A lock taken here and a job's lock are the same lock: the runner's store
// (the one the lock layer uses) cannot admit a job whose lock key is held
// here, and the reverse.
func TestExcludesJobsWithTheLockKey(t *testing.T) {
	ctx := context.Background()
	rdb := redistest.Start(t).Client()
	s := lockstore.NewRedisStore(rdb, lockstore.Config{})
	runner := lockcore.NewRedisStore(rdb, lockcore.RedisConfig{})

	held, err := s.Acquire(ctx, "account:42", time.Minute, -1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = runner.Admit(ctx, lockcore.AdmitRequest{TaskID: "t1", LockKey: "account:42", LockWait: -1})
	if !errors.Is(err, lockcore.ErrNotObtained) {
		t.Fatalf("job admitted while the lock is held here: %v", err)
	}
	if _, err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	adm, err := runner.Admit(ctx, lockcore.AdmitRequest{TaskID: "t1", LockKey: "account:42", LockWait: -1})
	if err != nil || !adm.Verdict.Runs() {
		t.Fatalf("Admit = %v, %v", adm.Verdict, err)
	}
	if _, err := s.Acquire(ctx, "account:42", time.Minute, -1); !errors.Is(err, lockstore.ErrNotObtained) {
		t.Fatalf("lock taken here while a job holds it: %v", err)
	}
	if _, err := runner.Complete(ctx, lockcore.CompleteRequest{Lock: adm.Lock}); err != nil {
		t.Fatal(err)
	}
}

// The defaults documented here are the ones the store applies.
func TestDefaultsMatchTheStore(t *testing.T) {
	if lockstore.LockTTLDefault != lockcore.LockTTLDefault || lockstore.LockWaitDefault != lockcore.LockWaitDefault ||
		lockstore.PrefixDefault != lockcore.PrefixDefault {
		t.Fatal("lockstore's defaults differ from lockcore's")
	}
	for _, r := range []lockstore.ReleaseResult{lockstore.Released, lockstore.Expired, lockstore.NotOwner} {
		if r.String() != lockcore.ReleaseResult(r).String() || r.String() == "" {
			t.Fatalf("%d: %q", r, r)
		}
	}
	if lockstore.Released != lockstore.ReleaseResult(lockcore.Released) || lockstore.NotOwner != lockstore.ReleaseResult(lockcore.NotOwner) {
		t.Fatal("ReleaseResult values differ from lockcore's")
	}
}
