package faulttest

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// TestDedupeCompletionLostInOutage: a job with a dedupe key succeeds (its
// side effect is done) while the link to Redis is cut, so neither the
// completed record nor asynq's outcome can be written at that moment. A
// duplicate enqueued after the link heals must be skipped: the job is done
// in effect. A runner that gives up on the completed record at the first
// failure leaves only the in-flight marker behind; once it expires the
// duplicate is admitted and the side effect happens twice.
func TestDedupeCompletionLostInOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Proxy: true})
	e.startRunner("w", 2)
	e.enqueue(WorkPayload{ID: "first", MS: 800, Dedupe: "order-1"})
	waitFor(t, 10*time.Second, "the first job to start", func() bool { return len(begun(e.events(), "first")) > 0 })
	time.Sleep(300 * time.Millisecond)

	heal := e.proxy.Blackhole()
	waitFor(t, 10*time.Second, "the first job's effect", func() bool { return e.counts((*Ledger).Effects)["order-1"] == 1 })
	// Keep the link cut while the runner tries (and fails) to record the
	// success: it must keep trying, and hand the outcome to asynq only once
	// Redis answers again.
	time.Sleep(2 * time.Second)
	heal()
	healed := time.Now()

	e.enqueue(WorkPayload{ID: "dup", MS: 10, Dedupe: "order-1"})
	waitFor(t, 30*time.Second, "the duplicate to complete", func() bool {
		info, err := e.inspector.GetTaskInfo("default", "dup")
		return err == nil && info.State == asynq.TaskStateCompleted
	})
	if n := e.counts((*Ledger).Effects)["order-1"]; n != 1 {
		t.Errorf("dedupe key order-1: side effect applied %d times, want 1: the duplicate ran %v after the link healed "+
			"because the completed record of the first run was never written (runner/dedupe.go finishAdmission gives up on "+
			"Store.Complete at the first error)", n, time.Since(healed).Round(time.Millisecond))
	}
	if runs := runsOf(e.events(), "dup"); len(runs) > 0 {
		t.Errorf("the duplicate ran (%d runs); want it skipped as duplicate_done", len(runs))
	}
}

// TestDedupeCompletionOutlastsMarker: as TestDedupeCompletionLostInOutage,
// but the link stays cut past the in-flight marker's deadline (its TTL is
// 1s here; renewals fail meanwhile). The runner must keep trying to write
// the completed record for its whole retry budget (20s), not stop when the
// marker's lease runs out: the completion script writes the record when
// the marker has expired too. A runner that stopped there (it did, until
// the chaos run caught a job applied twice this way) leaves no record, and
// the duplicate enqueued after the link heals runs again.
func TestDedupeCompletionOutlastsMarker(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Proxy: true})
	e.startRunner("w", 2, runnerOpts{config: func(c *WorkerConfig) { c.MarkerTTL = time.Second }})
	e.enqueue(WorkPayload{ID: "first", MS: 400, Dedupe: "order-1"})
	waitFor(t, 10*time.Second, "the first job to start", func() bool { return len(begun(e.events(), "first")) > 0 })
	time.Sleep(200 * time.Millisecond)

	heal := e.proxy.Blackhole()
	waitFor(t, 10*time.Second, "the first job's effect", func() bool { return e.counts((*Ledger).Effects)["order-1"] == 1 })
	time.Sleep(3 * time.Second) // three marker TTLs
	heal()

	waitFor(t, 30*time.Second, "the first job to complete", func() bool {
		info, err := e.inspector.GetTaskInfo("default", "first")
		return err == nil && info.State == asynq.TaskStateCompleted
	})
	e.enqueue(WorkPayload{ID: "dup", MS: 10, Dedupe: "order-1"})
	waitFor(t, 30*time.Second, "the duplicate to complete", func() bool {
		info, err := e.inspector.GetTaskInfo("default", "dup")
		return err == nil && info.State == asynq.TaskStateCompleted
	})
	if n := e.counts((*Ledger).Effects)["order-1"]; n != 1 {
		t.Errorf("dedupe key order-1: side effect applied %d times, want 1: the completed record was not written once the link healed", n)
	}
}
