package runner_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/jobrunner/jobrunner/internal/asynqdb"
	"github.com/jobrunner/jobrunner/internal/testkit/logtest"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/runner"
	jrsetup "github.com/jobrunner/jobrunner/setup"
)

// TestReadyzChecksEveryClusterPrimary: on Redis Cluster /readyz is 503 while
// any primary is dead (PING through the cluster client reaches one node,
// which answers while the dead primary's slots fail every command), and
// 200 again once its replica has taken over.
func TestReadyzChecksEveryClusterPrimary(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, redistest.ClusterOptions{})
	opts, err := jrsetup.ParseRedisURL(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := jrsetup.NewRedisClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	log := zerolog.New(&logtest.Buffer{})
	r, err := runner.New(runner.Config{Redis: rdb, Logger: &log, Metrics: prometheus.NewRegistry(),
		PollInterval: 50 * time.Millisecond, ShutdownTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ops := httptest.NewServer(r.Handler())
	defer ops.Close()
	start(t, r)
	if code, body := get(t, ops.URL+"/readyz"); code != 200 {
		t.Fatalf("readyz = %d %q", code, body)
	}

	// Not the queue's primary: readiness must not depend on which node a
	// PING happens to reach.
	queue := c.PrimaryFor(asynqdb.PendingKey("default"))
	var victim *redistest.Server
	for _, p := range c.Primaries() {
		if p != queue {
			victim = p
			break
		}
	}
	victim.Kill()
	killed := time.Now()
	waitFor(t, time.Second, "readyz 503 after a primary died", func() bool { // the health loop pings every 200ms
		code, _ := get(t, ops.URL+"/readyz")
		return code == 503
	})
	noticed := time.Now()
	t.Logf("readyz 503 %v after the kill", noticed.Sub(killed).Round(time.Millisecond))
	for n := 0; time.Since(noticed) < time.Second; n++ {
		code, body := get(t, ops.URL+"/readyz")
		if code != 503 || !strings.HasPrefix(body, "redis unreachable") {
			t.Fatalf("readyz %v after a primary died (probe %d) = %d %q, want 503 redis unreachable", time.Since(killed), n, code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.WaitFailover(victim)
	failedOver := time.Now()
	waitFor(t, 5*time.Second, "readyz 200 after the failover", func() bool {
		code, _ := get(t, ops.URL+"/readyz")
		return code == 200
	})
	t.Logf("readyz 200 %v after the failover", time.Since(failedOver).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}
