package faulttest

import (
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// TestLatencyNoDuplicateEffects runs jobs with dedupe keys, each enqueued
// three times under different task IDs, through a Redis link with steady
// latency and spikes, and checks that every dedupe key has its side effect
// exactly once and no two runs of one key overlapped.
func TestLatencyNoDuplicateEffects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{Proxy: true})
	e.startRunner("w1", 6)
	e.startRunner("w2", 6)
	steady := e.proxy.Latency(40, 30)
	defer steady()

	const keys = 30
	stop := make(chan struct{})
	spikes := make(chan int, 1)
	go func() { // latency spikes, below the clients' 400ms read timeout
		n := 0
		defer func() { spikes <- n }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(400 * time.Millisecond):
			}
			rm := e.proxy.Latency(250, 100)
			n++
			select {
			case <-stop:
				rm()
				return
			case <-time.After(300 * time.Millisecond):
			}
			rm()
		}
	}()
	for i := range keys {
		for _, dup := range []string{"a", "b", "c"} {
			e.enqueue(WorkPayload{ID: fmt.Sprintf("k%02d%s", i, dup), MS: 30, Dedupe: fmt.Sprintf("k%02d", i)})
		}
	}
	q := e.settle(60 * time.Second)
	close(stop)
	t.Logf("%d latency spikes; queue %+v", <-spikes, q)

	effects := e.counts((*Ledger).Effects)
	for i := range keys {
		if k := fmt.Sprintf("k%02d", i); effects[k] != 1 {
			t.Errorf("dedupe key %s: side effect applied %d times, want exactly 1", k, effects[k])
		}
	}
	if q.Completed != 3*keys || q.Archived != 0 {
		t.Errorf("queue %+v: want all %d tasks completed (duplicates skipped), none archived", q, 3*keys)
	}
	e.checkExclusive()
}

// TestLockLostWhenRenewalFails cuts the Redis link (or slows it beyond the
// lock's TTL) while a job holds a lock: renewals fail, the lease runs out,
// and the job's context is cancelled with lockcore.ErrLockLost within
// about the TTL. Once the link heals the job runs again and completes; the
// loss was a deferral, not a counted failure.
func TestLockLostWhenRenewalFails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault func(*Proxy) func()
	}{
		{"Blackhole", (*Proxy).Blackhole},
		{"Latency", func(p *Proxy) func() { return p.Latency(1500, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const ttl = 900 * time.Millisecond
			e := newEnv(t, envOptions{Proxy: true})
			e.startRunner("w", 2)
			e.enqueue(WorkPayload{ID: "held", MS: 6000, Lock: "res", LockTTLMS: int(ttl.Milliseconds())})
			waitFor(t, 10*time.Second, "the job to start", func() bool { return len(begun(e.events(), "held")) > 0 })
			time.Sleep(100 * time.Millisecond)

			heal := tc.fault(e.proxy)
			cut := time.Now()
			var ev Event
			waitFor(t, 5*time.Second, "the job to be cancelled", func() bool {
				runs := runsOf(e.events(), "held")
				if len(runs) > 0 {
					ev = runs[0]
				}
				return len(runs) > 0
			})
			took := time.Unix(0, ev.UnixNano).Sub(cut)
			if ev.Outcome != "cancelled" || !ev.LockLost {
				t.Fatalf("first run ended %q with cause %q; want cancelled by lockcore.ErrLockLost", ev.Outcome, ev.Cause)
			}
			if took > ttl+500*time.Millisecond {
				t.Errorf("cancelled %v after the link was cut; want within the lock TTL %v (+500ms)", took, ttl)
			}
			t.Logf("cancelled %v after the fault: %s", took, ev.Cause)
			heal()

			waitFor(t, 30*time.Second, "the job to run again and complete", func() bool {
				info, err := e.inspector.GetTaskInfo("default", "held")
				return err == nil && info.State == asynq.TaskStateCompleted
			})
			info, _ := e.inspector.GetTaskInfo("default", "held")
			if info.Retried != 0 {
				t.Errorf("task retried %d times (last error %q); a lost lock must not count as a failure", info.Retried, info.LastErr)
			}
			if got := e.counts((*Ledger).Done)["held"]; got != 1 {
				t.Errorf("side effect applied %d times, want 1", got)
			}
			e.checkExclusive()
		})
	}
}
