package runner_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jobrunner/jobrunner/internal/redistest"
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
	r, b := setup(t, runner.Config{Concurrency: 20})
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
