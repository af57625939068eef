package faulttest

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestRedisRestart kills the worker's Redis mid-run and restarts it, with
// and without persistence. The in-process worker keeps running, /readyz
// follows Redis, no job starts while Redis is down (nothing runs without
// its lock), a job holding a lock across the outage is cancelled with
// lockcore.ErrLockLost within about the lock's TTL, and the jobs resume
// and complete. With AOF no acknowledged job is lost: every enqueued job
// completes, exactly once in effect for those with a dedupe key.
func TestRedisRestart(t *testing.T) {
	t.Parallel()
	for _, aof := range []bool{false, true} {
		name := "NoPersistence"
		if aof {
			name = "AOF"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testRedisRestart(t, aof)
		})
	}
}

const lockTTL = 1000 // ms, for the jobs of the outage tests

func testRedisRestart(t *testing.T, aof bool) {
	e := newEnv(t, envOptions{AOF: aof})
	w := e.startRunner("w", 4)
	if code := w.get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d before the outage, want 200", code)
	}

	// A long job holds lock "long" across the outage; short ones over four
	// keys, half of them with a dedupe key, keep the worker busy.
	e.enqueue(WorkPayload{ID: "long", MS: 4000, Lock: "long", LockTTLMS: lockTTL})
	const n = 40
	var ids []string
	batch := func(prefix string) {
		for i := range n {
			p := WorkPayload{ID: fmt.Sprintf("%s%02d", prefix, i), MS: 150, Lock: fmt.Sprintf("%sk%d", prefix, i%4), LockTTLMS: lockTTL}
			if i%2 == 0 {
				p.Dedupe = p.ID
			}
			ids = append(ids, p.ID)
			e.enqueue(p)
		}
	}
	batch("a")
	waitFor(t, 20*time.Second, "8 jobs and the long one to run", func() bool {
		evs := e.events()
		return len(e.counts((*Ledger).Done)) >= 8 && len(begun(evs, "long")) > 0
	})

	e.redis.Kill()
	killed := time.Now()
	waitFor(t, 5*time.Second, "/readyz to turn 503", func() bool { return w.get("/readyz") == http.StatusServiceUnavailable })
	t.Logf("/readyz 503 after %v", time.Since(killed))
	if code := w.get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d while Redis is down, want 200: the worker keeps running", code)
	}

	// The long job loses its lock once its lease runs out: it cannot be
	// renewed while Redis is down.
	var lost Event
	waitFor(t, 5*time.Second, "the long job to be cancelled with ErrLockLost", func() bool {
		for _, ev := range runsOf(e.events(), "long") {
			if ev.Outcome == "cancelled" {
				lost = ev
				return true
			}
		}
		return false
	})
	if took := time.Unix(0, lost.UnixNano).Sub(killed); !lost.LockLost || took > lockTTL*time.Millisecond+time.Second {
		t.Errorf("long job cancelled %v after the kill with cause %q (lock lost: %v), want lockcore.ErrLockLost within the %dms TTL",
			took, lost.Cause, lost.LockLost, lockTTL)
	}
	// Nothing starts while Redis is down: admission fails closed.
	time.Sleep(300 * time.Millisecond) // in-flight admissions settle
	before := len(e.events())
	time.Sleep(1200 * time.Millisecond)
	if evs := e.events(); countKind(evs[before:], "begin") > 0 {
		t.Errorf("%d runs began while Redis was down: %v", countKind(evs[before:], "begin"), evs[before:])
	}

	e.redis.Restart()
	restarted := time.Now()
	if !aof {
		// Fences restart at 1 with the data: the ledger forgets the old ones.
		if err := e.ledger.ResetFences(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "/readyz to turn 200 again", func() bool { return w.get("/readyz") == http.StatusOK })
	t.Logf("/readyz 200 after %v", time.Since(restarted))

	if aof {
		// A second worker, whose asynq recoverer first runs a minute from
		// now: just after the leases of the jobs stuck by the outage
		// (below) have been expired for 30s, so that it recovers them at
		// once instead of the first worker's recoverer a minute later.
		e.startRunner("w2", 4)
	}
	if !aof {
		// The queue is gone with the data: what was enqueued before is
		// lost by definition. A new batch must run normally.
		e.resetClients()
		ids = nil
		batch("b")
	} else {
		ids = append(ids, "long")
	}
	// A job whose outcome asynq could not write while Redis was down stays
	// active until asynq's lease recovery retries it, 60-120s later: asynq
	// v0.26's syncer retries those writes on an already cancelled context
	// (hibiken/asynq#926 added the cancel), so they never succeed.
	q := e.settle(150 * time.Second)
	done := e.counts((*Ledger).Done)
	effects := e.counts((*Ledger).Effects)
	for _, id := range ids {
		if done[id] == 0 {
			t.Errorf("job %s never completed its side effect", id)
		}
	}
	for k, c := range effects {
		if c > 1 {
			t.Errorf("dedupe key %s: side effect applied %d times", k, c)
		}
	}
	if aof {
		// Enqueued = done: every acknowledged job came back and completed.
		if q.Completed != len(ids) || q.Archived != 0 {
			t.Errorf("queue after the outage: %+v; want %d completed, none archived", q, len(ids))
		}
	} else if q.Completed < len(ids) || q.Archived != 0 {
		t.Errorf("queue after the restart: %+v; want at least the %d new jobs completed, none archived", q, len(ids))
	}
	e.checkExclusive()
}

func begun(evs []Event, id string) []Event {
	var out []Event
	for _, ev := range evs {
		if ev.Kind == "begin" && ev.ID == id {
			out = append(out, ev)
		}
	}
	return out
}

func countKind(evs []Event, kind string) int {
	n := 0
	for _, ev := range evs {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}
