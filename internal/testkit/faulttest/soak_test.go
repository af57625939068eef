package faulttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
)

// soakDuration is how long the soak produces work under faults; the queue
// then gets time to settle (including asynq's lease recovery, up to two
// minutes, for jobs whose outcome could not be written in an outage).
const soakDuration = 25 * time.Second

// TestSoak runs a mixed workload on two in-process workers behind a
// toxiproxy, with an AOF Redis, for soakDuration while faults strike at
// random: Redis killed and restarted, latency spikes, plus the workload's
// own panics and transient and permanent failures. Once the faults stop and
// the queue settles, the invariant counter must balance: every enqueued
// job is completed, archived (only the permanent failures) or still in the
// queue; none is lost; no dedupe key has its side effect twice; no lock
// was held twice at once. Skipped with -short.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the soak runs for half a minute and settles for up to two")
	}
	t.Parallel()
	e := newEnv(t, envOptions{AOF: true, Proxy: true})
	e.startRunner("s1", 6)
	e.startRunner("s2", 6)

	var (
		mu        sync.Mutex
		enqueued  = map[string]WorkPayload{}
		groups    = map[string][]string{} // dedupe key -> job IDs
		permanent = map[string]bool{}
	)
	stop := make(chan struct{})
	produced := make(chan error, 1)
	go func() { // the producer
		var err error
		defer func() { produced <- err }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(60 * time.Millisecond):
			}
			var ps []WorkPayload
			id := fmt.Sprintf("j%04d", i)
			switch k := i % 20; {
			case k < 8:
				ps = append(ps, WorkPayload{ID: id, MS: 20 + rand.IntN(80)})
			case k < 12:
				ps = append(ps, WorkPayload{ID: id, MS: 20 + rand.IntN(40), Lock: fmt.Sprintf("sk%d", i%3), LockTTLMS: 1500})
			case k < 16:
				g := "g" + id
				ps = append(ps, WorkPayload{ID: id + "a", MS: 30, Dedupe: g}, WorkPayload{ID: id + "b", MS: 30, Dedupe: g})
			case k < 18:
				ps = append(ps, WorkPayload{ID: id, MS: 20, Fail: "transient", FailTimes: 1 + i%2, Lock: fmt.Sprintf("sk%d", i%3), LockTTLMS: 1500})
			case k < 19:
				ps = append(ps, WorkPayload{ID: id, MS: 10, Fail: "panic", FailTimes: 1, Dedupe: "p" + id})
			default:
				ps = append(ps, WorkPayload{ID: id, Fail: "permanent"})
			}
			for _, p := range ps {
				if err = e.tryEnqueue(p); err != nil {
					return
				}
				mu.Lock()
				enqueued[p.ID] = p
				if p.Dedupe != "" {
					groups[p.Dedupe] = append(groups[p.Dedupe], p.ID)
				}
				if p.Fail == "permanent" {
					permanent[p.ID] = true
				}
				mu.Unlock()
			}
		}
	}()

	// The faults, from this goroutine (Restart may fail the test).
	var kills, spikes int
	end := time.Now().Add(soakDuration)
	for time.Now().Before(end) {
		time.Sleep(time.Duration(1500+rand.IntN(2000)) * time.Millisecond)
		if rand.IntN(2) == 0 {
			e.redis.Kill()
			time.Sleep(time.Duration(300+rand.IntN(1200)) * time.Millisecond)
			e.redis.Restart()
			kills++
		} else {
			rm := e.proxy.Latency(100+rand.IntN(250), 50)
			time.Sleep(time.Duration(500+rand.IntN(1500)) * time.Millisecond)
			rm()
			spikes++
		}
	}
	close(stop)
	if err := <-produced; err != nil {
		t.Fatalf("producer: %v", err)
	}
	e.proxy.Reset()
	// A fresh worker whose recoverer first runs a minute from now, when
	// the leases of jobs stuck by the last outage have been expired for
	// 30s: the earliest asynq can recover them.
	e.startRunner("s3", 6)
	settleStart := time.Now()
	q := e.settle(150 * time.Second)
	t.Logf("%d jobs enqueued in %v under %d Redis kills and %d latency spikes; settled in %v: %+v",
		len(enqueued), soakDuration, kills, spikes, time.Since(settleStart).Round(time.Second), q)

	// The invariant counter: enqueued = done + archived + in queue.
	states := e.states()
	var done, archived, inQueue int
	for id := range enqueued {
		switch st, ok := states[id]; {
		case !ok:
			t.Errorf("job %s was enqueued and is gone: lost", id)
		case st == asynq.TaskStateCompleted:
			done++
		case st == asynq.TaskStateArchived:
			archived++
			if !permanent[id] {
				t.Errorf("job %s archived but not expected to fail for good", id)
			}
		default:
			inQueue++
		}
	}
	if len(enqueued) != done+archived+inQueue {
		t.Errorf("invariant broken: enqueued %d != done %d + archived %d + in queue %d", len(enqueued), done, archived, inQueue)
	}
	for id := range permanent {
		if states[id] != asynq.TaskStateArchived {
			t.Errorf("permanent failure %s is %v, want archived", id, states[id])
		}
	}
	effects := e.counts((*Ledger).Effects)
	dups := 0
	for g, ids := range groups {
		if effects[g] > 1 {
			dups++
			t.Errorf("dedupe key %s (jobs %v): side effect applied %d times", g, ids, effects[g])
		}
		if effects[g] == 0 {
			t.Errorf("dedupe key %s (jobs %v): side effect never applied", g, ids)
		}
	}
	doneCounts := e.counts((*Ledger).Done)
	for id, p := range enqueued {
		if p.Fail != "permanent" && p.Dedupe == "" && doneCounts[id] == 0 {
			t.Errorf("job %s completed without its side effect", id)
		}
	}
	t.Logf("invariant: enqueued %d = done %d + archived %d (all permanent: %d expected) + in queue %d; duplicate effects %d",
		len(enqueued), done, archived, len(permanent), inQueue, dups)
	e.checkExclusive()
}

// tryEnqueue is enqueue for goroutines: it returns the error instead of
// failing the test.
func (e *env) tryEnqueue(p WorkPayload) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := e.client.Enqueue(asynq.NewTask(WorkType, b), asynq.TaskID(p.ID), asynq.Retention(time.Hour), asynq.MaxRetry(10))
		if err == nil || errors.Is(err, asynq.ErrTaskIDConflict) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("enqueue %s: %w", p.ID, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// states returns the state of every task of the default queue by its
// origin ID: a copy re-enqueued by a deferral on the last attempt
// ("<id>~<n>") stands for its original.
func (e *env) states() map[string]asynq.TaskState {
	e.t.Helper()
	out := map[string]asynq.TaskState{}
	lists := []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		e.inspector.ListPendingTasks, e.inspector.ListActiveTasks, e.inspector.ListScheduledTasks,
		e.inspector.ListRetryTasks, e.inspector.ListArchivedTasks, e.inspector.ListCompletedTasks,
	}
	for _, list := range lists {
		for page := 1; ; page++ {
			tasks, err := list("default", asynq.PageSize(500), asynq.Page(page))
			if err != nil {
				e.t.Fatal(err)
			}
			for _, t := range tasks {
				id, _, _ := strings.Cut(t.ID, "~")
				out[id] = t.State
			}
			if len(tasks) < 500 {
				break
			}
		}
	}
	return out
}
