package runner_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/runner"
)

// TestQueueMetrics: the queue metrics agree with asynq's own Inspector for
// every configured queue, and a scrape while Redis hangs answers at once
// with the last reading, whose age grows.
func TestQueueMetrics(t *testing.T) {
	r, b := harness(t, runner.Config{Queues: map[string]int{"critical": 2, "idle": 1}, QueueStatsInterval: 100 * time.Millisecond})
	// Nothing handles "held": the worker only serves its queues, and these
	// tasks stay where they are put.
	for range 3 {
		if _, err := b.client.Enqueue(asynq.NewTask("held", nil), asynq.Queue("idle"), asynq.ProcessIn(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	start(t, r)
	r.Quiet() // fetch nothing from now on
	for range 2 {
		if _, err := b.client.Enqueue(asynq.NewTask("held", nil), asynq.Queue("critical")); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	var body string
	deadline := time.Now().Add(5 * time.Second)
	for body = metricsBody(t, r); !strings.Contains(body, `jobrunner_queue_tasks{queue="critical",state="pending"} 2`); body = metricsBody(t, r) {
		if time.Now().After(deadline) {
			t.Fatalf("no reading of 2 pending tasks in critical after 5s:\n%s", grepLines(body, "jobrunner_queue_"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, q := range []string{"critical", "idle"} {
		info, err := b.inspector.GetQueueInfo(q)
		if err != nil {
			t.Fatal(err)
		}
		for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed} {
			if want := fmt.Sprintf(`jobrunner_queue_tasks{queue=%q,state=%q} %d`, q, state, n); !strings.Contains(body, want) {
				t.Errorf("metrics lack %s:\n%s", want, grepLines(body, "jobrunner_queue_"))
			}
		}
		age := gauge(t, body, fmt.Sprintf(`jobrunner_queue_oldest_pending_age_seconds{queue=%q}`, q))
		if q == "critical" && (age < 0.2 || age > info.Latency.Seconds()+1) || q == "idle" && age != 0 {
			t.Errorf("%s: oldest pending age %v (asynq's latency %v)", q, age, info.Latency)
		}
	}
	if strings.Contains(body, `queue="default"`) {
		t.Errorf("a queue the worker does not serve is reported:\n%s", grepLines(body, "jobrunner_queue_"))
	}

	if b.redis.Embedded {
		return // miniredis cannot be paused
	}
	b.redis.Pause()
	defer b.redis.Resume()
	time.Sleep(500 * time.Millisecond)
	begin := time.Now()
	body = metricsBody(t, r)
	if took := time.Since(begin); took > 200*time.Millisecond {
		t.Errorf("a scrape while Redis hangs took %v", took)
	}
	if age := gauge(t, body, `jobrunner_queue_stats_age_seconds{queue="critical"}`); age < 0.3 {
		t.Errorf("the reading's age while Redis hangs is %vs", age)
	}
	if !strings.Contains(body, `jobrunner_queue_tasks{queue="critical",state="pending"} 2`) {
		t.Errorf("the last reading is gone while Redis hangs:\n%s", grepLines(body, "jobrunner_queue_"))
	}
}

// gauge returns the value of the series named (with labels) in the text
// exposition body.
func gauge(t *testing.T, body, series string) float64 {
	t.Helper()
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no series %s in:\n%s", series, grepLines(body, "jobrunner_queue_"))
	return 0
}
