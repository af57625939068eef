package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/hibiken/asynq"

	"github.com/jobrunner/jobrunner/internal/testkit/draintest"
	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
	"github.com/jobrunner/jobrunner/runner"
)

// TestDrain runs the drain acceptance suite against cmd/worker: all of it on
// one Redis, and on a cluster and behind Sentinel the subtests whose Redis
// traffic differs there (drainOnReplicated). The others (readiness latency,
// idle exit, signal escalation, quiet) exercise the process, not Redis:
// running them thrice would cost a minute of CPU and prove nothing new.
func TestDrain(t *testing.T) {
	for _, topo := range redistest.Topologies() {
		t.Run(topo.Name, func(t *testing.T) {
			cfg := draintest.Config{
				Topology: topo,
				Features: draintest.Features{
					Quiet:                 true,
					ExclusiveAfterAbandon: true,
				},
				// demo.sleep with ignore_cancel and a lock: the lock keeps the
				// handed-over job's next run from running beside the abandoned
				// handler.
				StubbornJob: func(ms int) *asynq.Task {
					return asynq.NewTask("demo.sleep", fmt.Appendf(nil, `{"ms":%d,"ignore_cancel":true,"lock":"stubborn"}`, ms))
				},
				Start: func(t testing.TB, srv *redistest.Server, env ...string) *workertest.Worker {
					return workertest.Start(t, srv, env)
				},
			}
			if topo.Name != "single" {
				// After the single server's run, whose latency bounds want
				// the machine to themselves.
				t.Parallel()
				cfg.Only = drainOnReplicated
			}
			draintest.Run(t, cfg)
		})
	}
}

// drainOnReplicated are the drain subtests run on a cluster and behind
// Sentinel: the ones that write to Redis while draining. Finished jobs are
// settled and unstarted ones stay pending (asynq's queue in its slot); the
// hard phase requeues through asynq's shutdown; and an abandoned handler's
// task is marked as handed over and requeued while its lock and marker,
// whose keys hash to other slots than the queue's, are handed to expiry.
var drainOnReplicated = []string{
	"InFlightFinishUnstartedStayPending",
	"HardPhaseRequeueKeepsAttempt",
	"AbandonedHandlerNeverRunsTwiceAtOnce",
}

// manifest is the part of a Deployment the drain depends on.
type manifest struct {
	Kind string `json:"kind"`
	Spec struct {
		Template struct {
			Spec struct {
				TerminationGracePeriodSeconds *int        `json:"terminationGracePeriodSeconds"`
				Containers                    []container `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

type container struct {
	Name string `json:"name"`
	Env  []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"env"`
	Ports []struct {
		Name          string `json:"name"`
		ContainerPort int    `json:"containerPort"`
	} `json:"ports"`
	ReadinessProbe *probe `json:"readinessProbe"`
	LivenessProbe  *probe `json:"livenessProbe"`
	Lifecycle      *struct {
		PreStop any `json:"preStop"`
	} `json:"lifecycle"`
}

type probe struct {
	HTTPGet *struct {
		Path string `json:"path"`
		Port any    `json:"port"` // a number or a port name
	} `json:"httpGet"`
}

// TestDeploymentManifest checks testdata/k8s/deployment.yaml against the
// worker's defaults: the grace period covers the whole drain, the probes
// hit the right endpoints on the operations port, and no preStop hook eats
// the budget.
func TestDeploymentManifest(t *testing.T) {
	raw, err := os.ReadFile("../../testdata/k8s/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Kind != "Deployment" {
		t.Fatalf("kind = %q, want Deployment", m.Kind)
	}
	pod := m.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	defaults := map[string]string{}
	for _, s := range settings {
		defaults[s.env] = s.def
	}

	// The worker's default agrees with the runner's.
	if d, err := time.ParseDuration(defaults["WORKER_SHUTDOWN_TIMEOUT"]); err != nil || d != runner.ShutdownTimeoutDefault {
		t.Errorf("WORKER_SHUTDOWN_TIMEOUT default %q, runner.ShutdownTimeoutDefault %v", defaults["WORKER_SHUTDOWN_TIMEOUT"], runner.ShutdownTimeoutDefault)
	}
	shutdown := runner.ShutdownTimeoutDefault
	if v := env["WORKER_SHUTDOWN_TIMEOUT"]; v != "" {
		if shutdown, err = time.ParseDuration(v); err != nil {
			t.Fatalf("WORKER_SHUTDOWN_TIMEOUT=%q: %v", v, err)
		}
	}

	if pod.TerminationGracePeriodSeconds == nil {
		t.Fatal("terminationGracePeriodSeconds unset: Kubernetes' default 30s is too short for the default 25s drain plus its hard phase")
	}
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	const margin = drainMargin // signal delivery, process exit
	// Every term of the worst case: soft phase, hard grace, hand-over of
	// handlers that ignore cancellation, asynq's shutdown, cleanups.
	worst := runner.Config{ShutdownTimeout: shutdown}.MaxDrain()
	if min := shutdown + runner.HardStopGraceDefault + 5*time.Second + runner.CleanupTimeout; worst < min {
		t.Errorf("MaxDrain %v leaves out a term (at least %v)", worst, min)
	}
	switch {
	case grace < worst+margin:
		t.Errorf("terminationGracePeriodSeconds %v < worst-case drain %v + margin %v", grace, worst, margin)
	case grace > 600*time.Second:
		t.Errorf("terminationGracePeriodSeconds %v > 600s: the cluster autoscaler caps scale-down grace at 600s", grace)
	}

	addr := defaults["WORKER_HTTP_ADDR"]
	if v := env["WORKER_HTTP_ADDR"]; v != "" {
		addr = v
	}
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("WORKER_HTTP_ADDR %q: %v", addr, err)
	}
	opsPort, _ := strconv.Atoi(portStr)
	if _, defPort, _ := net.SplitHostPort(defaults["WORKER_HTTP_ADDR"]); defPort != portStr {
		t.Errorf("the manifest moves the operations port to %s from the default %s", portStr, defPort)
	}
	resolve := func(p any) int {
		switch v := p.(type) {
		case float64:
			return int(v)
		case string:
			for _, cp := range c.Ports {
				if cp.Name == v {
					return cp.ContainerPort
				}
			}
			n, _ := strconv.Atoi(v)
			return n
		}
		return 0
	}
	for _, pc := range []struct {
		name, path string
		p          *probe
	}{{"readinessProbe", "/readyz", c.ReadinessProbe}, {"livenessProbe", "/healthz", c.LivenessProbe}} {
		if pc.p == nil || pc.p.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe on %s", pc.name, pc.path)
			continue
		}
		if pc.p.HTTPGet.Path != pc.path {
			t.Errorf("%s path = %q, want %q", pc.name, pc.p.HTTPGet.Path, pc.path)
		}
		if got := resolve(pc.p.HTTPGet.Port); got != opsPort {
			t.Errorf("%s port = %v (%d), want the operations port %d", pc.name, pc.p.HTTPGet.Port, got, opsPort)
		}
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		t.Error("a preStop hook delays SIGTERM and eats the grace period; the worker needs none")
	}
	if env["WEBHOOK_DENY_PRIVATE"] != "true" {
		t.Errorf("WEBHOOK_DENY_PRIVATE = %q, want \"true\": webhooks must not reach the cluster's private ranges", env["WEBHOOK_DENY_PRIVATE"])
	}
}
