package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// receiver is a webhook receiver that records its concurrency, arrival
// times and the deliveries it got.
type receiver struct {
	srv     *httptest.Server
	hold    time.Duration
	status  int
	running atomic.Int32
	peak    atomic.Int32
	mu      sync.Mutex
	arrived []time.Time
	got     map[string]int
}

func newReceiver(t *testing.T, hold time.Duration, status int) *receiver {
	rc := &receiver{hold: hold, status: status, got: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := rc.running.Add(1)
		defer rc.running.Add(-1)
		for p := rc.peak.Load(); cur > p && !rc.peak.CompareAndSwap(p, cur); p = rc.peak.Load() {
		}
		rc.mu.Lock()
		rc.arrived = append(rc.arrived, time.Now())
		rc.got[r.URL.Path]++
		rc.mu.Unlock()
		time.Sleep(rc.hold)
		w.WriteHeader(rc.status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) dependency() string { return strings.TrimPrefix(rc.srv.URL, "http://") }

func (rc *receiver) calls() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.arrived)
}

// maxInWindow returns the most arrivals within any window of length w.
func (rc *receiver) maxInWindow(w time.Duration) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	most := 0
	for i := range rc.arrived {
		n := 0
		for j := i; j < len(rc.arrived) && rc.arrived[j].Sub(rc.arrived[i]) < w; j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}

func enqueueWebhooks(t *testing.T, client *asynq.Client, url string, n int) {
	t.Helper()
	for i := range n {
		p := fmt.Sprintf(`{"url":"%s/job/%d"}`, url, i)
		if _, err := client.Enqueue(asynq.NewTask("webhook.deliver", []byte(p)), asynq.TaskID(fmt.Sprint("hook-", i)),
			asynq.Retention(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDependencyLimitsAcrossWorkers: three worker processes share a
// dependency's concurrency cap and rate limit: the receiver never sees more
// than the cap at once nor more than the rate in any second, every job is
// delivered exactly once, nothing is archived and no deferral spends an
// attempt.
func TestDependencyLimitsAcrossWorkers(t *testing.T) {
	srv := redistest.Start(t)
	rc := newReceiver(t, 60*time.Millisecond, http.StatusOK)
	limits := "WORKER_DEPENDENCY_LIMITS=" + rc.dependency() + "=concurrency:3,rate:40/s"
	for range 3 {
		workertest.Start(t, srv, []string{limits, "WORKER_CONCURRENCY=8"})
	}
	rdb := srv.Client()
	client, inspector := asynq.NewClientFromRedisClient(rdb), asynq.NewInspectorFromRedisClient(rdb)
	const jobs = 300
	enqueueWebhooks(t, client, rc.srv.URL, jobs)
	deadline := time.Now().Add(60 * time.Second)
	for {
		q, err := inspector.GetQueueInfo("default")
		if err == nil && q.Completed == jobs {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not all delivered: %+v, %v", q, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if p := rc.peak.Load(); p > 3 {
		t.Errorf("the receiver saw %d requests at once; cap 3", p)
	}
	// Starts are limited on Redis time; each arrives at the receiver a
	// little later, up to some delay D on a loaded machine. Arrivals within
	// any window of 1s - D then started within one second, so there are at
	// most N + burst - 1 = 40 of them. D = 300ms leaves room for three
	// race-enabled workers on two cores.
	if n := rc.maxInWindow(700 * time.Millisecond); n > 40 {
		t.Errorf("the receiver saw %d requests within 700ms; rate 40/s", n)
	}
	rc.mu.Lock()
	for i := range jobs {
		if c := rc.got[fmt.Sprint("/job/", i)]; c != 1 {
			t.Errorf("job %d delivered %d times", i, c)
		}
	}
	rc.mu.Unlock()
	done, err := inspector.ListCompletedTasks("default", asynq.PageSize(jobs))
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range done {
		if ti.Retried != 0 {
			t.Errorf("%s spent %d attempts on deferrals", ti.ID, ti.Retried)
		}
	}
	t.Logf("peak concurrency %d, most in one second %d, in 700ms %d", rc.peak.Load(), rc.maxInWindow(time.Second), rc.maxInWindow(700*time.Millisecond))
}

// TestSharedBreakerAcrossWorkers: with the receiver failing, three workers
// sharing one breaker stop calling it after the threshold, fleet-wide;
// with breakers per process, each process pays the threshold itself. Both
// kinds say so the same way: every worker logs breaker.transition closed
// to open for the receiver and reports jobrunner_breaker_state 2 and the
// transition (a shared breaker used to do neither).
func TestSharedBreakerAcrossWorkers(t *testing.T) {
	run := func(shared bool) int {
		srv := redistest.Start(t)
		rc := newReceiver(t, 50*time.Millisecond, http.StatusInternalServerError)
		env := []string{"WORKER_CONCURRENCY=2"}
		if shared {
			env = append(env, "WORKER_SHARED_BREAKERS=*")
		}
		ws := make([]*workertest.Worker, 3)
		for i := range ws {
			ws[i] = workertest.Start(t, srv, env)
		}
		enqueueWebhooks(t, asynq.NewClientFromRedisClient(srv.Client()), rc.srv.URL, 60)
		// Every worker's breaker (or the shared one) opens within seconds;
		// the open period is 60s, so what reaches the receiver by then is
		// what the breakers let through.
		time.Sleep(4 * time.Second)
		dep := strings.TrimPrefix(rc.srv.URL, "http://")
		for i, w := range ws {
			var opened bool
			for _, l := range w.Lines("breaker.transition") {
				opened = opened || l.Str("dependency") == dep && l.Str("from") == "closed" && l.Str("to") == "open" && l.Str("level") == "warn"
			}
			if !opened {
				t.Errorf("shared %v: worker %d logged no breaker.transition closed to open for %s: %v", shared, i, dep, w.Lines("breaker.transition"))
			}
			_, body := w.Get("/metrics")
			for _, want := range []string{
				`jobrunner_breaker_state{dependency="` + dep + `"} 2`,
				`jobrunner_breaker_transitions_total{dependency="` + dep + `",from="closed",to="open"} 1`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("shared %v: worker %d's /metrics lacks %s", shared, i, want)
				}
			}
		}
		return rc.calls()
	}
	shared, local := run(true), run(false)
	t.Logf("calls to a failing receiver: shared breaker %d, local breakers %d", shared, local)
	// Threshold 5 consecutive failures; at most 6 calls in flight when the
	// breaker trips (3 workers x concurrency 2).
	if shared > 5+6 {
		t.Errorf("shared breaker let %d calls through, want at most the threshold plus those in flight", shared)
	}
	if local < 3*5 {
		t.Errorf("local breakers let %d calls through; each of 3 processes pays the threshold of 5", local)
	}
}
