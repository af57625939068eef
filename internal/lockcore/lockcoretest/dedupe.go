package lockcoretest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

func admit(t *testing.T, s lockcore.Store, req lockcore.AdmitRequest, want lockcore.Verdict) lockcore.Admission {
	t.Helper()
	a, err := s.Admit(ctxFor(t), req)
	if err != nil {
		t.Fatalf("Admit(%+v): %v", req, err)
	}
	if a.Verdict != want {
		t.Fatalf("Admit(%+v) = %v, want %v", req, a.Verdict, want)
	}
	if runs := a.Marker != nil; runs != want.Runs() && req.DedupeKey != "" {
		t.Fatalf("Admit = %v with marker lease %v", a.Verdict, a.Marker)
	}
	return a
}

// processing reports whether another task's job under dedupe key k would
// be deferred as in flight, asking the store as a worker would.
func processing(t *testing.T, s lockcore.Store, k string) bool {
	t.Helper()
	a, err := s.Admit(ctxFor(t), lockcore.AdmitRequest{DedupeKey: k, TaskID: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	if a.Verdict.Runs() {
		if _, err := s.Abandon(ctxFor(t), a.Marker, nil); err != nil {
			t.Fatal(err)
		}
	}
	return a.Verdict == lockcore.InFlightElsewhere
}

func testDedupeStates(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	dk := key(t, "dd")
	a := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}, lockcore.Admitted)
	if !a.Marker.IsMarker() || !strings.HasSuffix(a.Marker.Token(), ":t1") || a.Marker.Key() != dk || a.Marker.TTL() != lockcore.MarkerTTLDefault || a.Lock != nil {
		t.Fatalf("marker lease = %+v", a.Marker)
	}
	if !processing(t, s, dk) {
		t.Fatal("admitted key is not processing")
	}
	b := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t2"}, lockcore.InFlightElsewhere)
	if b.Holder != "t1" {
		t.Fatalf("Holder = %q, want t1", b.Holder)
	}
	// A redelivery of t1 (a crash, a drain requeue) takes its marker over.
	a2 := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}, lockcore.TakenOver)
	c, err := s.Complete(ctx, lockcore.CompleteRequest{Marker: a2.Marker, Result: []byte("receipt-42")})
	if err != nil || c.Marker != lockcore.Released || c.Lock != 0 {
		t.Fatalf("Complete = %+v, %v", c, err)
	}
	if processing(t, s, dk) {
		t.Fatal("completed key is still processing")
	}
	for _, task := range []string{"t2", "t1", "t3"} {
		d := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: task}, lockcore.Done)
		if !bytes.Equal(d.Result, []byte("receipt-42")) {
			t.Fatalf("Result = %q", d.Result)
		}
	}
	// An empty result is a result too.
	ek := key(t, "dd")
	e := admit(t, s, lockcore.AdmitRequest{DedupeKey: ek, TaskID: "t1"}, lockcore.Admitted)
	if _, err := s.Complete(ctx, lockcore.CompleteRequest{Marker: e.Marker}); err != nil {
		t.Fatal(err)
	}
	if d := admit(t, s, lockcore.AdmitRequest{DedupeKey: ek, TaskID: "t2"}, lockcore.Done); len(d.Result) != 0 {
		t.Fatalf("Result = %q, want empty", d.Result)
	}
}

func testDedupeFailure(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	dk := key(t, "dd")
	a := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}, lockcore.Admitted)
	c, err := s.Abandon(ctx, a.Marker, nil)
	if err != nil || c.Marker != lockcore.Released {
		t.Fatalf("Abandon = %+v, %v", c, err)
	}
	if processing(t, s, dk) {
		t.Fatal("a failed attempt left its marker")
	}
	// The retry of the same task, and any other task, are admitted afresh.
	r := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}, lockcore.Admitted)
	if rr, err := r.Marker.Release(ctx); err != nil || rr != lockcore.Released {
		t.Fatalf("marker Release = %v, %v", rr, err)
	}
	o := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t2"}, lockcore.Admitted)
	// Abandoning a marker another task now holds leaves it alone.
	if c, err := s.Abandon(ctx, a.Marker, nil); err != nil || c.Marker == lockcore.Released {
		t.Fatalf("stale Abandon = %+v, %v", c, err)
	}
	if !processing(t, s, dk) {
		t.Fatal("a stale abandon deleted another task's marker")
	}
	if _, err := s.Abandon(ctx, o.Marker, nil); err != nil {
		t.Fatal(err)
	}
}

func testDedupeWithLock(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	dk, lk := key(t, "dd"), key(t, "lock")
	a := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1", LockKey: lk, LockTTL: 5 * time.Second}, lockcore.Admitted)
	if a.Lock == nil || a.Lock.Fence() <= 0 || a.Lock.Key() != lk || a.Lock.TTL() != 5*time.Second || a.Lock.IsMarker() {
		t.Fatalf("lock lease = %+v", a.Lock)
	}
	if len(a.Leases()) != 2 {
		t.Fatalf("Leases() = %d leases", len(a.Leases()))
	}
	if _, err := s.Acquire(ctx, lk, time.Second, -1); !errors.Is(err, lockcore.ErrNotObtained) {
		t.Fatalf("lock taken by Admit is free: %v", err)
	}
	// The same dedupe key in flight: deferred without touching the lock.
	admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t2", LockKey: lk, LockWait: -1}, lockcore.InFlightElsewhere)
	c, err := s.Complete(ctx, lockcore.CompleteRequest{Marker: a.Marker, Lock: a.Lock, Result: []byte("ok"), Window: time.Minute})
	if err != nil || c != (lockcore.Completion{Marker: lockcore.Released, Lock: lockcore.Released}) {
		t.Fatalf("Complete = %+v, %v", c, err)
	}
	l := mustAcquire(t, s, lk, time.Second, -1)
	if l.Fence() <= a.Lock.Fence() {
		t.Fatalf("fence %d after %d", l.Fence(), a.Lock.Fence())
	}
	// Done wins over a busy lock: the duplicate is skipped at once.
	d := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t2", LockKey: lk, LockWait: -1}, lockcore.Done)
	if string(d.Result) != "ok" || d.Lock != nil {
		t.Fatalf("Done admission = %+v", d)
	}
	mustRelease(t, l, lockcore.Released)
	// Abandon with both leases.
	dk2 := key(t, "dd")
	f := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk2, TaskID: "t1", LockKey: lk}, lockcore.Admitted)
	if c, err := s.Abandon(ctx, f.Marker, f.Lock); err != nil || c != (lockcore.Completion{Marker: lockcore.Released, Lock: lockcore.Released}) {
		t.Fatalf("Abandon = %+v, %v", c, err)
	}
	if processing(t, s, dk2) {
		t.Fatal("abandon left the marker")
	}
	mustRelease(t, mustAcquire(t, s, lk, time.Second, -1), lockcore.Released)
}

func testDedupeLockBusy(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	dk, lk := key(t, "dd"), key(t, "lock")
	holder := mustAcquire(t, s, lk, 5*time.Second, -1)
	start := time.Now()
	_, err := s.Admit(ctx, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1", LockKey: lk, LockWait: 150 * time.Millisecond})
	wantNotObtained(t, err, lk)
	if took := time.Since(start); took < 140*time.Millisecond || took > time.Second {
		t.Errorf("gave up after %s, want about 150ms", took)
	}
	if processing(t, s, dk) {
		t.Fatal("an admission that did not get its lock left a marker")
	}
	// Once the lock is free, the same task is admitted (not taken over).
	time.AfterFunc(50*time.Millisecond, func() { _, _ = holder.Release(ctx) })
	a := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1", LockKey: lk, LockWait: 2 * time.Second}, lockcore.Admitted)
	if _, err := s.Complete(ctx, lockcore.CompleteRequest{Marker: a.Marker, Lock: a.Lock}); err != nil {
		t.Fatal(err)
	}
}

func testDedupeLockOnly(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	lk := key(t, "lock")
	a := admit(t, s, lockcore.AdmitRequest{LockKey: lk}, lockcore.Admitted)
	if a.Marker != nil || a.Lock == nil || a.Lock.Fence() <= 0 {
		t.Fatalf("lock-only admission = %+v", a)
	}
	c, err := s.Complete(ctx, lockcore.CompleteRequest{Lock: a.Lock, Result: []byte("ignored")})
	if err != nil || c != (lockcore.Completion{Lock: lockcore.Released}) {
		t.Fatalf("Complete = %+v, %v", c, err)
	}
	admit(t, s, lockcore.AdmitRequest{LockKey: lk}, lockcore.Admitted)
}

func testDedupeWindow(t *testing.T, s lockcore.Store) {
	dk := key(t, "dd")
	a := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}, lockcore.Admitted)
	if _, err := s.Complete(ctxFor(t), lockcore.CompleteRequest{Marker: a.Marker, Window: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t2"}, lockcore.Done)
	time.Sleep(200 * time.Millisecond)
	admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t2"}, lockcore.Admitted)
}

func testDedupeMarkerExpires(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	dk := key(t, "dd")
	a := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1", MarkerTTL: 80 * time.Millisecond}, lockcore.Admitted)
	time.Sleep(150 * time.Millisecond) // t1's worker paused without renewing
	b := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t2"}, lockcore.Admitted)
	// t1 finishes late: its success is still recorded, in t2's place: the
	// key is done, and t2 is fenced out as a replaced admission is.
	c, err := s.Complete(ctx, lockcore.CompleteRequest{Marker: a.Marker, Result: []byte("t1")})
	if err != nil || c.Marker != lockcore.NotOwner {
		t.Fatalf("late Complete = %+v, %v", c, err)
	}
	if d := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t3"}, lockcore.Done); string(d.Result) != "t1" {
		t.Fatalf("Result = %q, want the late success's", d.Result)
	}
	if err := s.Renew(ctx, b.Marker); err != nil || !errors.Is(b.Marker.Err(), lockcore.ErrLockLost) {
		t.Fatalf("the duplicate's marker renewed after the key was recorded: %v, %v", err, b.Marker.Err())
	}
	// t2 ends either way without undoing the record: a failure abandons
	// nothing, a success keeps the first result.
	if c, err := s.Abandon(ctx, b.Marker, nil); err != nil || c.Marker == lockcore.Released {
		t.Fatalf("Abandon of the fenced-out duplicate = %+v, %v", c, err)
	}
	if _, err := s.Complete(ctx, lockcore.CompleteRequest{Marker: b.Marker, Result: []byte("t2")}); err != nil {
		t.Fatal(err)
	}
	if d := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t3"}, lockcore.Done); string(d.Result) != "t1" {
		t.Fatalf("Result = %q, want the first success's", d.Result)
	}
}

// testDedupeTakeoverFencesOut runs two admissions of one task ID at once, as
// when asynq redelivers a task whose handler still runs: the second takes the
// marker over, and the first is fenced out: its renewal finds the marker
// lost and its completion records nothing, so only the second completes.
func testDedupeTakeoverFencesOut(t *testing.T, s lockcore.Store) {
	ctx := ctxFor(t)
	dk := key(t, "dd")
	old := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}, lockcore.Admitted)
	cur := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t1"}, lockcore.TakenOver)
	if old.Marker.Token() == cur.Marker.Token() {
		t.Fatalf("both admissions hold marker %q", cur.Marker.Token())
	}
	if err := s.Renew(ctx, old.Marker, cur.Marker); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(old.Marker.Err(), lockcore.ErrLockLost) {
		t.Fatalf("the replaced admission's marker renewed: Err = %v", old.Marker.Err())
	}
	if cur.Marker.Err() != nil {
		t.Fatalf("the current admission's marker: %v", cur.Marker.Err())
	}
	c, err := s.Complete(ctx, lockcore.CompleteRequest{Marker: old.Marker, Result: []byte("old")})
	if err != nil || c.Marker != lockcore.NotOwner {
		t.Fatalf("Complete of the replaced admission = %+v, %v", c, err)
	}
	if b := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t2"}, lockcore.InFlightElsewhere); b.Holder != "t1" {
		t.Fatalf("Holder = %q", b.Holder)
	}
	if _, err := s.Complete(ctx, lockcore.CompleteRequest{Marker: cur.Marker, Result: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	// A replaced attempt that ends after its successor still records nothing.
	if _, err := s.Complete(ctx, lockcore.CompleteRequest{Marker: old.Marker, Result: []byte("old")}); err != nil {
		t.Fatal(err)
	}
	if d := admit(t, s, lockcore.AdmitRequest{DedupeKey: dk, TaskID: "t2"}, lockcore.Done); string(d.Result) != "new" {
		t.Fatalf("Result = %q, want the current admission's", d.Result)
	}
}
