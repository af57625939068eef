package main

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/jobrunner/jobrunner/runner"
	"github.com/jobrunner/jobrunner/setup"
)

// composeFile is the part of a compose file the cluster example depends on.
type composeFile struct {
	Services map[string]struct {
		Command   any               `json:"command"`
		DependsOn map[string]any    `json:"depends_on"`
		Networks  any               `json:"networks"`
		Env       map[string]string `json:"environment"`
		StopGrace string            `json:"stop_grace_period"`
	} `json:"services"`
}

// TestClusterComposeFile checks testdata/cluster/docker-compose.yml (Docker
// is not needed): it parses, every node runs with cluster mode on, the
// cluster is created from exactly the six nodes' addresses with one replica
// each, the worker's REDIS_URL names those addresses and parses, it waits
// for the cluster's creation, and its grace period covers the drain.
func TestClusterComposeFile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../testdata/cluster/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	var nodes []string // addresses, host:6379
	for name, svc := range f.Services {
		if !strings.HasPrefix(name, "redis-") {
			continue
		}
		if cmd := strings.Join(anyStrings(svc.Command), " "); !strings.Contains(cmd, "--cluster-enabled yes") {
			t.Errorf("%s: command %q lacks --cluster-enabled yes", name, cmd)
		}
		nets, _ := svc.Networks.(map[string]any)
		cl, _ := nets["cluster"].(map[string]any)
		ip, _ := cl["ipv4_address"].(string)
		if ip == "" {
			t.Errorf("%s: no fixed ipv4_address on the cluster network", name)
		}
		nodes = append(nodes, ip+":6379")
	}
	slices.Sort(nodes)
	if len(nodes) != 6 {
		t.Fatalf("%d redis nodes, want 6 (3 primaries, 3 replicas)", len(nodes))
	}

	initCmd := strings.Join(anyStrings(f.Services["cluster-init"].Command), " ")
	created := strings.Fields(initCmd[strings.Index(initCmd, "--cluster create")+len("--cluster create"):])
	created = slices.DeleteFunc(created, func(s string) bool { return strings.HasPrefix(s, "-") || s == "1" })
	slices.Sort(created)
	if !slices.Equal(created, nodes) || !strings.Contains(initCmd, "--cluster-replicas 1") {
		t.Errorf("cluster-init creates %v (%q), want the nodes %v with --cluster-replicas 1", created, initCmd, nodes)
	}

	w := f.Services["worker"]
	opts, err := setup.ParseRedisURL(w.Env["REDIS_URL"])
	if err != nil {
		t.Fatalf("worker REDIS_URL: %v", err)
	}
	got := slices.Sorted(slices.Values(opts.Addrs))
	if !opts.IsClusterMode || !slices.Equal(got, nodes) {
		t.Errorf("worker REDIS_URL names %v (cluster %v), want every node %v", got, opts.IsClusterMode, nodes)
	}
	if dep, _ := w.DependsOn["cluster-init"].(map[string]any); dep["condition"] != "service_completed_successfully" {
		t.Errorf("worker depends_on cluster-init = %v, want service_completed_successfully", w.DependsOn["cluster-init"])
	}
	grace, err := time.ParseDuration(w.StopGrace)
	if err != nil {
		t.Fatalf("stop_grace_period %q: %v", w.StopGrace, err)
	}
	shutdown, err := time.ParseDuration(w.Env["WORKER_SHUTDOWN_TIMEOUT"])
	if err != nil {
		t.Fatal(err)
	}
	if worst := (runner.Config{ShutdownTimeout: shutdown}).MaxDrain(); grace < worst+drainMargin {
		t.Errorf("stop_grace_period %v < the worst-case drain %v + margin %v", grace, worst, drainMargin)
	}
	if w.Env["WEBHOOK_DENY_PRIVATE"] != "true" {
		t.Errorf("worker WEBHOOK_DENY_PRIVATE = %q, want \"true\"", w.Env["WEBHOOK_DENY_PRIVATE"])
	}
}

// drainMargin is what a grace period must leave beyond the worst-case
// drain (runner.Config.MaxDrain) for signal delivery and process exit.
const drainMargin = 2 * time.Second

// TestRootComposeFile checks docker-compose.yml (Docker is not needed):
// the worker's stop_grace_period covers the worst-case drain of its
// WORKER_SHUTDOWN_TIMEOUT plus the margin, as the Kubernetes example's
// terminationGracePeriodSeconds does (it was 35s, below the 35.25s
// worst case), and webhooks may not reach private ranges.
func TestRootComposeFile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	w, ok := f.Services["worker"]
	if !ok {
		t.Fatal("no worker service")
	}
	shutdown := runner.ShutdownTimeoutDefault
	if v := w.Env["WORKER_SHUTDOWN_TIMEOUT"]; v != "" {
		if shutdown, err = time.ParseDuration(v); err != nil {
			t.Fatalf("WORKER_SHUTDOWN_TIMEOUT=%q: %v", v, err)
		}
	}
	grace, err := time.ParseDuration(w.StopGrace)
	if err != nil {
		t.Fatalf("stop_grace_period %q: %v", w.StopGrace, err)
	}
	if worst := (runner.Config{ShutdownTimeout: shutdown}).MaxDrain(); grace < worst+drainMargin {
		t.Errorf("stop_grace_period %v < the worst-case drain %v + margin %v", grace, worst, drainMargin)
	}
	if _, err := setup.ParseRedisURL(w.Env["REDIS_URL"]); err != nil {
		t.Errorf("worker REDIS_URL: %v", err)
	}
	if w.Env["WEBHOOK_DENY_PRIVATE"] != "true" {
		t.Errorf("worker WEBHOOK_DENY_PRIVATE = %q, want \"true\"", w.Env["WEBHOOK_DENY_PRIVATE"])
	}
}

// anyStrings turns a compose command (a list, or one string) into words.
func anyStrings(v any) []string {
	switch c := v.(type) {
	case string:
		return strings.Fields(c)
	case []any:
		var out []string
		for _, x := range c {
			s, _ := x.(string)
			out = append(out, strings.Fields(s)...)
		}
		return out
	}
	return nil
}
