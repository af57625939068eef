package runner_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/job"
	"github.com/jobrunner/jobrunner/job/builtin"
	"github.com/jobrunner/jobrunner/runner"
)

func TestNewRefusesARegistryThatHasOurMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	rdb := redistest.Start(t).Client()
	if _, err := runner.New(runner.Config{Redis: rdb, Metrics: reg}); err != nil {
		t.Fatal(err)
	}
	_, err := runner.New(runner.Config{Redis: rdb, Metrics: reg})
	if err == nil || !strings.Contains(err.Error(), "Config.Metrics") {
		t.Fatalf("second runner on one registry: %v, want an error naming Config.Metrics", err)
	}
}

// TestDependencyLabelsAreCapped runs jobs on more distinct dependencies than
// DependencyLabelsMax, as payload-derived names (webhook hosts) can: the
// metrics keep at most that many dependency label values plus "other".
func TestDependencyLabelsAreCapped(t *testing.T) {
	r, b := harness(t, runner.Config{Concurrency: 20})
	if err := r.Register(builtin.Sleep()); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	n := runner.DependencyLabelsMax + 50
	for i := range n {
		p := fmt.Sprintf(`{"dependency":"host-%d"}`, i)
		if _, err := b.client.Enqueue(asynq.NewTask("demo.sleep", []byte(p))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "every job done", func() bool { return len(b.logs.Events("job.done")) == n })
	series := 0
	other := false
	for line := range strings.SplitSeq(metricsBody(t, r), "\n") {
		if strings.HasPrefix(line, "jobrunner_breaker_state{") {
			series++
			other = other || strings.Contains(line, `dependency="other"`)
		}
	}
	if series != runner.DependencyLabelsMax+1 || !other {
		t.Fatalf("%d jobrunner_breaker_state series (other: %v), want %d plus other", series, other, runner.DependencyLabelsMax)
	}
}

// TestTypeAndReasonLabelsAreCapped enqueues tasks of many unregistered
// types, and jobs that defer with a reason taken from their payload, as
// whoever enqueues or a handler can: the type label keeps the registered
// type and "unknown", the reason label the runner's own reasons,
// ReasonLabelsMax handler reasons and "other".
func TestTypeAndReasonLabelsAreCapped(t *testing.T) {
	r, b := harness(t, runner.Config{Concurrency: 20})
	defers := &job.Definition[greet]{Type: "labels.defer",
		Handle: func(_ context.Context, g greet) error { return job.Defer(g.Name, time.Hour, nil) }}
	if err := r.Register(defers); err != nil {
		t.Fatal(err)
	}
	start(t, r)
	reasons, types := runner.ReasonLabelsMax+15, 30
	for i := range reasons {
		p := fmt.Sprintf(`{"name":"reason_%d"}`, i)
		if _, err := b.client.Enqueue(asynq.NewTask("labels.defer", []byte(p))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range types {
		if _, err := b.client.Enqueue(asynq.NewTask(fmt.Sprintf("nobody.registered.%d", i), []byte(`{}`))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 30*time.Second, "every job deferred", func() bool { return len(b.logs.Events("job.deferred")) >= reasons+types })

	labels := func(metric, label string) map[string]bool {
		seen := map[string]bool{}
		for line := range strings.SplitSeq(metricsBody(t, r), "\n") {
			if !strings.HasPrefix(line, metric+"{") {
				continue
			}
			_, v, _ := strings.Cut(line, label+`="`)
			v, _, _ = strings.Cut(v, `"`)
			seen[v] = true
		}
		return seen
	}
	for _, metric := range []string{"jobrunner_jobs_total", "jobrunner_jobs_deferred_total", "jobrunner_job_duration_seconds_count"} {
		if got := labels(metric, "type"); len(got) != 2 || !got["labels.defer"] || !got["unknown"] {
			t.Errorf("%s: type label values %v, want labels.defer and unknown", metric, got)
		}
	}
	got := labels("jobrunner_jobs_deferred_total", "reason")
	if len(got) != runner.ReasonLabelsMax+2 || !got["unknown_type"] || !got["other"] {
		t.Errorf("reason label values %v: %d, want unknown_type, %d handler reasons and other", got, len(got), runner.ReasonLabelsMax)
	}
}
