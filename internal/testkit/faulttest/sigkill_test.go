package faulttest

import (
	"context"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// TestWorkerSIGKILL kills a worker process mid-job with SIGKILL, as the
// kernel's OOM killer or a node loss would. Two jobs were running on it,
// both with a lock and a dedupe key:
//
//   - "once" gets a duplicate ("dup", same dedupe key, another task ID)
//     enqueued right after the kill. The lock and in-flight marker of the
//     dead worker hold the duplicate back no longer than their TTLs (2s and
//     5s), then it runs and completes. When asynq's lease recovery brings
//     "once" back (60-120s after the kill in asynq v0.26), it is skipped as
//     done: the order is processed once in effect.
//   - "solo" has no duplicate: lease recovery brings it back and it runs at
//     once (its marker and lock expired long before), completing once.
//
// Skipped with -short: lease recovery takes a minute or more.
func TestWorkerSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: asynq's lease recovery takes 60-120s")
	}
	t.Parallel()
	const lockTTL, markerTTL = 2 * time.Second, 5 * time.Second // markerTTL: NewWorker's default
	e := newEnv(t, envOptions{})
	a := StartProc(t, "a", e.redis.Addr, e.ledgerSrv.Addr, 2)
	e.enqueue(WorkPayload{ID: "once", MS: 5000, Lock: "acct", LockTTLMS: int(lockTTL.Milliseconds()), Dedupe: "order"})
	e.enqueue(WorkPayload{ID: "solo", MS: 3000, Lock: "acct2", LockTTLMS: int(lockTTL.Milliseconds()), Dedupe: "solo"})
	waitFor(t, 30*time.Second, "both jobs to start on a", func() bool {
		evs := e.events()
		return len(begun(evs, "once")) > 0 && len(begun(evs, "solo")) > 0
	})
	time.Sleep(500 * time.Millisecond)
	a.Kill()
	killed := time.Now()
	if err := e.ledger.Kill(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
	e.enqueue(WorkPayload{ID: "dup", MS: 100, Lock: "acct", LockTTLMS: int(lockTTL.Milliseconds()), Dedupe: "order"})
	// b's asynq recoverer first runs a minute after b starts: just after
	// the dead worker's leases (30s) have been expired for 30s more.
	b := StartProc(t, "b", e.redis.Addr, e.ledgerSrv.Addr, 2)

	// The duplicate waits for the dead worker's marker and lock: no longer
	// than their TTLs.
	waitFor(t, 30*time.Second, "the duplicate to complete", func() bool { return e.counts((*Ledger).Done)["dup"] == 1 })
	dupRun := begun(e.events(), "dup")[0]
	delay := time.Unix(0, dupRun.UnixNano).Sub(killed)
	t.Logf("duplicate ran %v after the kill", delay.Round(time.Millisecond))
	if bound := markerTTL + 2*time.Second; delay > bound {
		t.Errorf("duplicate ran %v after the kill; the dead worker's marker (%v) and lock (%v) should hold it back no longer than %v",
			delay, markerTTL, lockTTL, bound)
	}

	// Lease recovery brings both jobs of the dead worker back.
	for _, id := range []string{"once", "solo"} {
		waitFor(t, 150*time.Second, id+" to be recovered and completed", func() bool {
			info, err := e.inspector.GetTaskInfo("default", id)
			return err == nil && info.State == asynq.TaskStateCompleted
		})
	}
	t.Logf("recovered and completed %v after the kill", time.Since(killed).Round(time.Second))
	skipped := false
	for _, l := range b.Lines("job.skipped") {
		if l.Str("task_id") == "once" && l.Str("reason") == "duplicate_done" {
			skipped = true
		}
	}
	if !skipped {
		t.Errorf("recovered job once was not skipped as duplicate_done; b's job.skipped lines: %v", b.Lines("job.skipped"))
	}
	for _, l := range b.Lines("job.deferred") {
		if l.Str("task_id") == "solo" {
			t.Errorf("recovered job solo was deferred (%s): the dead worker's marker and lock should long have expired", l.Str("reason"))
		}
	}
	effects := e.counts((*Ledger).Effects)
	if effects["order"] != 1 || effects["solo"] != 1 {
		t.Errorf("side effects %v; want order and solo once each", effects)
	}
	if n := e.counts((*Ledger).Done)["once"]; n != 0 {
		t.Errorf("job once applied its effect %d times; its duplicate did it, it must be skipped", n)
	}
	e.checkExclusive()
	b.Stop(10 * time.Second)
}
