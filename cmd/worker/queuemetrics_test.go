package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// TestQueueMetricsOnTheWorker: "is the queue backing up?" is answered on
// the worker's /metrics, per configured queue, and a scrape while Redis
// hangs answers at once with the last reading (runner's TestQueueMetrics
// checks the values against asynq's Inspector).
func TestQueueMetricsOnTheWorker(t *testing.T) {
	srv := redistest.Start(t)
	client := asynq.NewClientFromRedisClient(srv.Client())
	t.Cleanup(func() { _ = client.Close() })
	for range 2 {
		if _, err := client.Enqueue(asynq.NewTask("demo.sleep", []byte(`{}`)), asynq.Queue("critical"), asynq.ProcessIn(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	w := workertest.Start(t, srv, []string{"WORKER_QUEUES=critical=2,default=1"})
	want := []string{
		`jobrunner_queue_tasks{queue="critical",state="scheduled"} 2`,
		`jobrunner_queue_tasks{queue="default",state="pending"} 0`,
		`jobrunner_queue_oldest_pending_age_seconds{queue="critical"} 0`,
		`jobrunner_queue_stats_age_seconds{queue="default"} `,
	}
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = w.Get("/metrics")
		missing := ""
		for _, s := range want {
			if !strings.Contains(body, s) {
				missing = s
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %s", missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if srv.Embedded {
		return
	}
	srv.Pause()
	defer srv.Resume()
	for range 3 {
		begin := time.Now()
		code, body := w.Get("/metrics")
		if took := time.Since(begin); code != 200 || took > time.Second || !strings.Contains(body, want[0]) {
			t.Fatalf("/metrics while Redis hangs: %d after %v", code, took)
		}
	}
}
