package main

import (
	"testing"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// TestExactlyOnceTopologies runs 300 jobs with dedupe keys and shared
// locks, a quarter of them enqueued twice, through the cmd/enqueue binary
// (--file, then --wait) and two cmd/worker processes, on one Redis, a
// 3-primary cluster and behind Sentinel: every job completes exactly once
// and nothing is archived.
func TestExactlyOnceTopologies(t *testing.T) {
	t.Parallel()
	for _, topo := range redistest.Topologies() {
		t.Run(topo.Name, func(t *testing.T) {
			t.Parallel()
			env := topo.Start(t)
			res := workertest.RunBatch(t, workertest.BatchConfig{Env: env, Jobs: 300})
			t.Log(res)
			res.RequireExactlyOnce(t)
			if want := 300 / 4; res.Skipped < want {
				t.Errorf("%d duplicates skipped, want at least %d", res.Skipped, want)
			}
		})
	}
}
