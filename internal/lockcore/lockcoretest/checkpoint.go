package lockcoretest

import (
	"errors"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

// loadCheckpoint returns c's checkpoint as a string, "" when there is none,
// failing t on an error.
func loadCheckpoint(t *testing.T, s lockcore.Store, c lockcore.Checkpoint) string {
	t.Helper()
	v, ok, err := s.LoadCheckpoint(ctxFor(t), c, 0)
	if err != nil {
		t.Fatalf("LoadCheckpoint: %v", err)
	}
	if ok && len(v) == 0 {
		t.Fatal("LoadCheckpoint: ok with an empty value")
	}
	return string(v)
}

func saveCheckpoint(t *testing.T, s lockcore.Store, c lockcore.Checkpoint, v string, ttl time.Duration) {
	t.Helper()
	if err := s.SaveCheckpoint(ctxFor(t), c, []byte(v), ttl); err != nil {
		t.Fatalf("SaveCheckpoint(%q): %v", v, err)
	}
}

func testCheckpointSaveLoad(t *testing.T, s lockcore.Store) {
	dk := key(t, "dd")
	a := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}, lockcore.Admitted)
	c := lockcore.Checkpoint{Lease: a.Marker}
	if v := loadCheckpoint(t, s, c); v != "" {
		t.Fatalf("a fresh job's checkpoint = %q, want none", v)
	}
	saveCheckpoint(t, s, c, `{"done":1}`, 0)
	saveCheckpoint(t, s, c, `{"done":2}`, 0)
	if v := loadCheckpoint(t, s, c); v != `{"done":2}` {
		t.Fatalf("checkpoint = %q, want the last one saved", v)
	}
	// A retry (after the failure released the marker) resumes from it.
	if _, err := s.Abandon(ctxFor(t), a.Marker, nil); err != nil {
		t.Fatal(err)
	}
	b := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}, lockcore.Admitted)
	if v := loadCheckpoint(t, s, lockcore.Checkpoint{Lease: b.Marker}); v != `{"done":2}` {
		t.Fatalf("the retry's checkpoint = %q, want the failed attempt's", v)
	}
	// A released lease touches nothing.
	if err := s.SaveCheckpoint(ctxFor(t), c, []byte("late"), 0); !errors.Is(err, lockcore.ErrLockLost) {
		t.Fatalf("SaveCheckpoint with a released marker = %v, want ErrLockLost", err)
	}
}

// testCheckpointFencedAfterTakeover: an attempt whose marker a redelivery
// took over can neither read nor overwrite the checkpoint, and learns that
// its lease is lost.
func testCheckpointFencedAfterTakeover(t *testing.T, s lockcore.Store) {
	dk := key(t, "dd")
	old := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}, lockcore.Admitted)
	oc := lockcore.Checkpoint{Lease: old.Marker}
	saveCheckpoint(t, s, oc, "old-1", 0)
	cur := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}, lockcore.TakenOver)
	cc := lockcore.Checkpoint{Lease: cur.Marker}
	if v := loadCheckpoint(t, s, cc); v != "old-1" {
		t.Fatalf("the redelivery resumed from %q, want old-1", v)
	}
	saveCheckpoint(t, s, cc, "new-1", 0)
	err := s.SaveCheckpoint(ctxFor(t), oc, []byte("old-2"), 0)
	var le *lockcore.LostError
	if !errors.As(err, &le) || le.Reason != lockcore.LostNotOwner {
		t.Fatalf("SaveCheckpoint by the replaced attempt = %v, want a *LostError (not owner)", err)
	}
	select {
	case <-old.Marker.Lost():
	default:
		t.Fatal("the refused save did not mark the replaced attempt's marker lost")
	}
	if _, _, err := s.LoadCheckpoint(ctxFor(t), oc, 0); !errors.Is(err, lockcore.ErrLockLost) {
		t.Fatalf("LoadCheckpoint by the replaced attempt = %v, want ErrLockLost", err)
	}
	if err := s.DropCheckpoint(ctxFor(t), oc); !errors.Is(err, lockcore.ErrLockLost) {
		t.Fatalf("DropCheckpoint by the replaced attempt = %v, want ErrLockLost", err)
	}
	if v := loadCheckpoint(t, s, cc); v != "new-1" {
		t.Fatalf("checkpoint = %q, want the current attempt's new-1", v)
	}
	if cur.Marker.Err() != nil {
		t.Fatalf("the current attempt's marker: %v", cur.Marker.Err())
	}
}

// testCheckpointFencedByLock: under a lock alone, the checkpoint follows its
// name across holders, and a holder whose lock expired cannot write it.
func testCheckpointFencedByLock(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	lk := key(t, "lk")
	old, err := s.Acquire(ctx, lk, 150*time.Millisecond, -1)
	if err != nil {
		t.Fatal(err)
	}
	oc := lockcore.Checkpoint{Lease: old, Name: "job:t1"}
	saveCheckpoint(t, s, oc, "old-1", 0)
	// Another job under the same lock has a place of its own.
	saveCheckpoint(t, s, lockcore.Checkpoint{Lease: old, Name: "job:t2"}, "other", 0)
	time.Sleep(250 * time.Millisecond) // the lock expires, unrenewed
	cur, err := s.Acquire(ctx, lk, time.Minute, -1)
	if err != nil {
		t.Fatal(err)
	}
	cc := lockcore.Checkpoint{Lease: cur, Name: "job:t1"}
	if v := loadCheckpoint(t, s, cc); v != "old-1" {
		t.Fatalf("the next holder resumed from %q, want old-1", v)
	}
	saveCheckpoint(t, s, cc, "new-1", 0)
	if err := s.SaveCheckpoint(ctx, oc, []byte("old-2"), 0); !errors.Is(err, lockcore.ErrLockLost) {
		t.Fatalf("SaveCheckpoint by the expired holder = %v, want ErrLockLost", err)
	}
	if v := loadCheckpoint(t, s, cc); v != "new-1" {
		t.Fatalf("checkpoint = %q, want new-1", v)
	}
	// Completing under the lock drops the job's checkpoint, not the other's.
	c, err := s.Complete(ctx, lockcore.CompleteRequest{Lock: cur, Checkpoint: &cc})
	if err != nil || c.Lock != lockcore.Released {
		t.Fatalf("Complete = %+v, %v", c, err)
	}
	next, err := s.Acquire(ctx, lk, time.Minute, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Release(ctx)
	if v := loadCheckpoint(t, s, lockcore.Checkpoint{Lease: next, Name: "job:t1"}); v != "" {
		t.Fatalf("checkpoint after completion = %q, want none", v)
	}
	if v := loadCheckpoint(t, s, lockcore.Checkpoint{Lease: next, Name: "job:t2"}); v != "other" {
		t.Fatalf("the other job's checkpoint = %q, want it kept", v)
	}
}

// testCheckpointDroppedOnComplete: a completion drops the checkpoint of its
// dedupe key, except when another admission holds the marker.
func testCheckpointDroppedOnComplete(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	window := 100 * time.Millisecond
	for _, withLock := range []bool{false, true} {
		dk := key(t, "dd")
		req := lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}
		if withLock {
			req.LockKey = dk // one slot, one script
		}
		a := admit(t, s, req, lockcore.Admitted)
		c := lockcore.Checkpoint{Lease: a.Marker}
		saveCheckpoint(t, s, c, "place", 0)
		done, err := s.Complete(ctx, lockcore.CompleteRequest{Marker: a.Marker, Lock: a.Lock, Window: window, Checkpoint: &c})
		if err != nil || done.Marker != lockcore.Released || (withLock && done.Lock != lockcore.Released) {
			t.Fatalf("Complete (lock %v) = %+v, %v", withLock, done, err)
		}
		time.Sleep(2 * window) // the completed record expires: the key is free
		b := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t2"}, lockcore.Admitted)
		if v := loadCheckpoint(t, s, lockcore.Checkpoint{Lease: b.Marker}); v != "" {
			t.Fatalf("checkpoint after completion (lock %v) = %q, want none", withLock, v)
		}
		if _, err := s.Abandon(ctx, b.Marker, nil); err != nil {
			t.Fatal(err)
		}
	}

	// A replaced attempt's completion leaves the current one's place alone.
	dk := key(t, "dd")
	old := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}, lockcore.Admitted)
	cur := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}, lockcore.TakenOver)
	cc := lockcore.Checkpoint{Lease: cur.Marker}
	saveCheckpoint(t, s, cc, "current", 0)
	if _, err := s.Complete(ctx, lockcore.CompleteRequest{Marker: old.Marker, Checkpoint: &lockcore.Checkpoint{Lease: old.Marker}}); err != nil {
		t.Fatal(err)
	}
	if v := loadCheckpoint(t, s, cc); v != "current" {
		t.Fatalf("checkpoint after the replaced attempt's completion = %q, want current", v)
	}
	// DropCheckpoint (work given up for good) drops it for its owner.
	if err := s.DropCheckpoint(ctx, cc); err != nil {
		t.Fatal(err)
	}
	if v := loadCheckpoint(t, s, cc); v != "" {
		t.Fatalf("checkpoint after DropCheckpoint = %q, want none", v)
	}
}

// testCheckpointTTL: a checkpoint expires ttl after it was last saved or
// loaded.
func testCheckpointTTL(t *testing.T, s lockcore.Store) {
	dk := key(t, "dd")
	a := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}, lockcore.Admitted)
	c := lockcore.Checkpoint{Lease: a.Marker}
	ttl := 300 * time.Millisecond
	saveCheckpoint(t, s, c, "place", ttl)
	for range 2 {
		time.Sleep(ttl * 2 / 3)
		if v, ok, err := s.LoadCheckpoint(ctxFor(t), c, ttl); err != nil || !ok || string(v) != "place" {
			t.Fatalf("LoadCheckpoint within its TTL = %q, %v, %v", v, ok, err)
		}
	}
	time.Sleep(ttl + 100*time.Millisecond)
	if v := loadCheckpoint(t, s, c); v != "" {
		t.Fatalf("checkpoint past its TTL = %q, want none", v)
	}
}

func testCheckpointInvalid(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	a := admit(t, s, lockcore.AdmitRequest{DedupeKey: key(t, "dd"), TaskID: "t1", LockKey: key(t, "lk")}, lockcore.Admitted)
	slot, err := s.TakeSlot(ctx, key(t, "dep"), 1, time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.ReleaseSlot(ctx, slot)
	for name, c := range map[string]lockcore.Checkpoint{
		"nil lease":         {},
		"marker with name":  {Lease: a.Marker, Name: "x"},
		"lock without name": {Lease: a.Lock},
		"slot":              {Lease: slot, Name: "x"},
	} {
		if err := s.SaveCheckpoint(ctx, c, []byte("v"), 0); err == nil {
			t.Errorf("SaveCheckpoint with %s: no error", name)
		}
		if _, _, err := s.LoadCheckpoint(ctx, c, 0); err == nil {
			t.Errorf("LoadCheckpoint with %s: no error", name)
		}
	}
	if _, err := s.Complete(ctx, lockcore.CompleteRequest{Marker: a.Marker, Lock: a.Lock, Checkpoint: &lockcore.Checkpoint{Lease: a.Lock, Name: "x"}}); err == nil {
		t.Error("Complete with a checkpoint fenced by the lock beside a marker: no error")
	}
}
