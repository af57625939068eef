package faulttest

import (
	"fmt"
	"testing"
	"time"
)

// TestContention runs two worker processes on 200 jobs over 5 lock keys.
// No two runs of one key may overlap (the ledger replays their begin and
// end events in the order they happened), no run may carry a stale fence
// (the ledger is the fenced resource), and every job completes exactly
// once.
func TestContention(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	const jobs, keys = 200, 5
	a := StartProc(t, "a", e.redis.Addr, e.ledgerSrv.Addr, 8)
	b := StartProc(t, "b", e.redis.Addr, e.ledgerSrv.Addr, 8)
	start := time.Now()
	for i := range jobs {
		e.enqueue(WorkPayload{ID: fmt.Sprintf("j%03d", i), MS: 5 + i%10, Lock: fmt.Sprintf("key%d", i%keys), LockTTLMS: 2000, LockWaitMS: 2000})
	}
	q := e.settle(90 * time.Second)
	t.Logf("%d jobs over %d keys on two workers in %v; queue %+v", jobs, keys, time.Since(start).Round(time.Millisecond), q)
	if q.Completed != jobs || q.Archived != 0 {
		t.Errorf("queue %+v: want %d completed, none archived", q, jobs)
	}
	done := e.counts((*Ledger).Done)
	for i := range jobs {
		if id := fmt.Sprintf("j%03d", i); done[id] != 1 {
			t.Errorf("job %s: side effect applied %d times, want 1", id, done[id])
		}
	}
	perProc := map[string]int{}
	for _, ev := range e.events() {
		if ev.Kind == "end" && ev.Outcome == "done" {
			perProc[ev.Proc]++
		}
	}
	if perProc["a"] == 0 || perProc["b"] == 0 {
		t.Errorf("runs per worker %v: want both workers to contend", perProc)
	}
	e.checkExclusive()
	a.Stop(10 * time.Second)
	b.Stop(10 * time.Second)
}
